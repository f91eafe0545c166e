"""The aggregator sandbox over HTTP: Plaid's paths, shapes, errors and published limits."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
from aggregator_helpers import Running, StartSandbox

from finpipe.connectors import payloads
from finpipe.connectors.aggregator import AggregatorClient, PlaidError
from finpipe.connectors.banks import BankCredentials
from finpipe.sandbox.aggregator.app import AggregatorSandbox, build
from finpipe.sandbox.server import Sandbox, SandboxCredentials, SandboxServer
from finpipe.sandbox.world import World

ERROR_KEYS = {"error_type", "error_code", "error_message", "display_message", "request_id"}


def _link(agg: Running) -> tuple[str, str]:
    created = agg.post(
        "/sandbox/public_token/create",
        institution_id="ins_109508",
        initial_products=["transactions"],
        sandbox_company=agg.company_id,
    )
    assert created.status_code == 200, created.text
    public_token = created.json()["public_token"]
    assert public_token.startswith("public-sandbox-")
    exchanged = agg.post("/item/public_token/exchange", public_token=public_token)
    assert exchanged.status_code == 200, exchanged.text
    body = exchanged.json()
    assert body["access_token"].startswith("access-sandbox-")
    # A public token is single use.
    again = agg.post("/item/public_token/exchange", public_token=public_token)
    assert (again.status_code, again.json()["error_code"]) == (400, "INVALID_PUBLIC_TOKEN")
    return body["access_token"], body["item_id"]


def _error(response, status: int, error_type: str, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= ERROR_KEYS
    assert (body["error_type"], body["error_code"]) == (error_type, code)
    return body


def test_link_accounts_and_item(agg: Running) -> None:
    token, item_id = _link(agg)
    answer = agg.post("/accounts/get", access_token=token)
    assert answer.status_code == 200
    body = payloads.loads(answer.content)  # exact numbers
    assert body["item"]["item_id"] == item_id
    world = agg.sandbox.bank.accounts_of(agg.company_id)
    assert {a["account_id"] for a in body["accounts"]} == set(world.get_column("bank_account_id"))
    for account in body["accounts"]:
        assert set(account) >= {"account_id", "balances", "mask", "name", "official_name"}
        assert account["type"] in ("depository", "credit")
        assert account["subtype"] in ("checking", "savings", "credit card")
        balances = account["balances"]
        assert isinstance(balances["current"], Decimal)
        assert balances["iso_currency_code"] == "USD"
        booked = agg.sandbox.bank.booked_balance(account["account_id"])
        assert balances["current"] * 100 == booked
    item = agg.post("/item/get", access_token=token).json()
    assert item["item"]["institution_id"] == "ins_109508"
    assert item["item"]["error"] is None
    assert agg.post("/item/remove", access_token=token).status_code == 200
    _error(
        agg.post("/accounts/get", access_token=token), 400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN"
    )


def test_keys_and_inputs_are_checked(agg: Running) -> None:
    token, _ = _link(agg)
    wrong = agg.post("/accounts/get", access_token=token, secret="nope")
    _error(wrong, 400, "INVALID_INPUT", "INVALID_API_KEYS")
    _error(agg.post("/accounts/get"), 400, "INVALID_REQUEST", "MISSING_FIELDS")
    bad_ins = agg.post(
        "/sandbox/public_token/create",
        institution_id="first-platypus",
        initial_products=["transactions"],
        sandbox_company=agg.company_id,
    )
    _error(bad_ins, 400, "INVALID_INPUT", "INVALID_INSTITUTION")
    not_ours = agg.post(
        "/sandbox/public_token/create",
        institution_id="ins_109508",
        initial_products=["transactions"],
        sandbox_company="cmp_nobody",
    )
    assert (
        "sandbox_company"
        in _error(not_ours, 400, "INVALID_REQUEST", "INVALID_FIELD")["error_message"]
    )
    for count in (501, 0, "100"):
        refused = agg.post("/transactions/sync", access_token=token, count=count)
        assert "count" in _error(refused, 400, "INVALID_REQUEST", "INVALID_FIELD")["error_message"]
    garbage = agg.post("/transactions/sync", access_token=token, cursor="not-a-cursor")
    _error(garbage, 400, "INVALID_REQUEST", "INVALID_FIELD")


def test_sync_pages_walk_the_history(agg: Running) -> None:
    token, _ = _link(agg)
    cursor, pages, added, removed = None, 0, {}, set()
    while True:
        answer = agg.post("/transactions/sync", access_token=token, cursor=cursor, count=200)
        body = payloads.loads(answer.content)
        pages += 1
        assert body["transactions_update_status"] == "HISTORICAL_UPDATE_COMPLETE"
        assert len(body["added"]) + len(body["modified"]) + len(body["removed"]) <= 200
        added.update({t["transaction_id"]: t for t in body["added"]})
        removed.update(r["transaction_id"] for r in body["removed"])
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert pages >= 3
    live = {k: v for k, v in added.items() if k not in removed}
    lines = agg.sandbox.bank.lines().filter(pl.col("company_id") == agg.company_id)
    assert set(live) == set(lines.get_column("line_id"))
    for line in lines.head(50).iter_rows(named=True):
        txn = live[line["line_id"]]
        assert txn["amount"] == Decimal(-line["amount"]) / 100  # Plaid: positive = money out
        assert isinstance(txn["amount"], Decimal)
        assert txn["pending"] == (line["status"] == "pending")
        assert txn["pending_transaction_id"] == line["pending_line_id"]
    # Every removed pending line is named by the posted line that replaced it.
    replacing = {t["pending_transaction_id"] for t in live.values()}
    assert removed <= replacing
    # Nothing new: same cursor back, nothing in the lists.
    quiet = agg.post("/transactions/sync", access_token=token, cursor=cursor).json()
    assert (quiet["added"], quiet["modified"], quiet["removed"]) == ([], [], [])
    assert quiet["next_cursor"] == cursor and quiet["has_more"] is False


def test_mutation_during_pagination_is_answered_with_plaids_error(agg: Running) -> None:
    token, item_id = _link(agg)
    agg.sandbox.mutate_during_pagination(item_id, after_pages=1)
    first = agg.post("/transactions/sync", access_token=token, count=100).json()
    assert first["has_more"] is True
    second = agg.post(
        "/transactions/sync", access_token=token, cursor=first["next_cursor"], count=100
    )
    _error(second, 400, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")
    # Restarting from the first page's cursor (none) works.
    assert agg.post("/transactions/sync", access_token=token, count=100).status_code == 200


def test_reset_login_answers_item_login_required(agg: Running) -> None:
    token, _ = _link(agg)
    assert agg.post("/sandbox/item/reset_login", access_token=token).json()["reset_login"]
    refused = agg.post("/transactions/sync", access_token=token)
    _error(refused, 400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED")
    _error(agg.post("/accounts/get", access_token=token), 400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED")
    item = agg.post("/item/get", access_token=token).json()["item"]
    assert item["error"]["error_code"] == "ITEM_LOGIN_REQUIRED"


def test_published_sync_limit_is_enforced_without_retry_after(
    start_sandbox: StartSandbox,
) -> None:
    agg = start_sandbox(published=True)
    token, item_id = _link(agg)
    for _ in range(50):
        assert agg.post("/transactions/sync", access_token=token, cursor="now").status_code == 200
    limited = agg.post("/transactions/sync", access_token=token, cursor="now")
    body = _error(limited, 429, "RATE_LIMIT_EXCEEDED", "TRANSACTIONS_SYNC_LIMIT")
    assert "Retry-After" not in limited.headers
    assert body["display_message"] is None
    # Limits are per Item and per endpoint: /accounts/get still answers.
    assert agg.post("/accounts/get", access_token=token).status_code == 200
    counters = agg.sandbox.counters_snapshot()
    assert counters[item_id]["limit_rejections"] == 1
    assert counters[f"{item_id} /accounts/get"]["limit_rejections"] == 0


def test_the_client_stays_within_the_published_limit(agg_world: World) -> None:
    """A virtual clock shared by sandbox and client: 120 calls take two virtual minutes and
    the sandbox never has to refuse one."""
    now = [1000.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    creds = SandboxCredentials()
    sandbox: AggregatorSandbox = build(agg_world, creds, clock=lambda: now[0])
    with SandboxServer(
        Sandbox(world=agg_world, providers={"aggregator": sandbox}, credentials=creds)
    ) as server:
        agg = Running(sandbox, server, creds)
        token, item_id = _link(agg)
        client = AggregatorClient(
            agg.base,
            BankCredentials(creds.client_id, creds.client_secret),
            clock=lambda: now[0],
            sleep=sleep,
        )
        for _ in range(120):
            client.transactions_sync(token, item_id, "now", 1)
        counters = sandbox.counters_snapshot()[item_id]
        assert counters["calls"] == 120
        assert counters["limit_rejections"] == 0
        assert counters["max_in_window"]["minute"] <= 50
        assert now[0] - 1000.0 >= 120  # it waited (virtually) for the windows
        sandbox.reset_login(item_id)
        with pytest.raises(PlaidError) as caught:
            client.accounts(token, item_id)
        assert caught.value.code == "ITEM_LOGIN_REQUIRED"
        assert token not in str(caught.value)
