"""The Open Banking sandbox speaks OBIE: consent resources, the request-object authorization,
OBReadTransaction6 paging, interaction ids and OBErrorResponse1 bodies."""

from __future__ import annotations

import math

import polars as pl
import requests

from finpipe.connectors.oauth import TokenStore
from finpipe.warehouse import Warehouse
from finpipe_tests.openbanking.conftest import Running

AISP = "/open-banking/v3.1/aisp"


def client_token(ob: Running) -> str:
    answer = requests.post(
        f"{ob.base}/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "accounts"},
        auth=(ob.credentials.client_id, ob.credentials.client_secret),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert "refresh_token" not in answer.json()
    return str(answer.json()["access_token"])


def test_consent_resource_lifecycle(ob: Running) -> None:
    headers = {"Authorization": f"Bearer {client_token(ob)}", "x-fapi-interaction-id": "iid-1"}
    body = {
        "Data": {
            "Permissions": ["ReadAccountsDetail", "ReadBalances"],
            "ExpirationDateTime": "2030-01-01T00:00:00+00:00",
        },
        "Risk": {},
    }
    created = requests.post(f"{ob.base}{AISP}/account-access-consents", json=body, headers=headers)
    assert created.status_code == 201
    assert created.headers["x-fapi-interaction-id"] == "iid-1"
    data = created.json()["Data"]
    assert data["Status"] == "AwaitingAuthorisation"
    assert data["Permissions"] == ["ReadAccountsDetail", "ReadBalances"]
    assert {"ConsentId", "CreationDateTime", "StatusUpdateDateTime"} <= set(data)
    # Capped at 90 days from creation (the bank's clock).
    assert data["ExpirationDateTime"] < "2030-01-01"
    assert created.json()["Links"]["Self"].endswith(data["ConsentId"])
    assert "Meta" in created.json()

    url = f"{ob.base}{AISP}/account-access-consents/{data['ConsentId']}"
    assert requests.get(url, headers=headers).json()["Data"] == data
    assert requests.delete(url, headers=headers).status_code == 204
    gone = requests.get(url, headers=headers)
    assert gone.status_code == 400
    assert gone.json()["Errors"][0]["ErrorCode"] == "UK.OBIE.Resource.NotFound"


def test_bad_consent_requests_answer_ob_error_bodies(ob: Running) -> None:
    headers = {"Authorization": f"Bearer {client_token(ob)}"}
    bad = requests.post(
        f"{ob.base}{AISP}/account-access-consents",
        json={"Data": {"Permissions": ["ReadEverything"]}, "Risk": {}},
        headers=headers,
    )
    assert bad.status_code == 400
    error = bad.json()
    assert error["Code"] == "400 BadRequest" and error["Id"] and error["Message"]
    assert error["Errors"][0]["ErrorCode"] == "UK.OBIE.Field.Invalid"
    assert error["Errors"][0]["Path"] == "Data.Permissions"
    assert bad.headers["x-fapi-interaction-id"]
    no_risk = requests.post(
        f"{ob.base}{AISP}/account-access-consents",
        json={"Data": {"Permissions": ["ReadBalances"]}},
        headers=headers,
    )
    assert no_risk.json()["Errors"][0]["Path"] == "Risk"
    # A client-credentials token cannot read account data.
    accounts = requests.get(f"{ob.base}{AISP}/accounts", headers=headers)
    assert accounts.status_code == 403
    assert accounts.json()["Errors"][0]["ErrorCode"].startswith("UK.OBIE.")
    # No token: 401 and no body.
    assert requests.get(f"{ob.base}{AISP}/accounts").status_code == 401


def test_authorize_needs_a_signed_request_object(ob: Running) -> None:
    answer = requests.get(
        f"{ob.base}/oauth2/authorize",
        params={
            "client_id": ob.credentials.client_id,
            "response_type": "code",
            "redirect_uri": "http://127.0.0.1:9/cb",
            "sandbox_company": "x",
            "request": "not.a.jwt",
        },
        allow_redirects=False,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request_object"


def test_transactions_page_with_links_and_filter(
    ob: Running, duck: Warehouse, ob_company: str
) -> None:
    ctx = ob.context(duck, ob_company)
    ob.connect(ctx)
    tokens = TokenStore(duck, ctx.box).load(ob_company, "openbanking")
    assert tokens is not None
    headers = {
        "Authorization": f"Bearer {tokens.access_token}",
        "x-fapi-customer-ip-address": "198.51.100.7",  # attended: no pull counted
    }
    bank = ob.sandbox.bank
    account = bank.accounts_of(ob_company).item(0, "bank_account_id")
    truth = bank.lines(account)
    url = f"{ob.base}{AISP}/accounts/{account}/transactions"
    page = requests.get(url, headers=headers).json()
    assert page["Meta"]["TotalPages"] == math.ceil(truth.height / 100) > 1
    assert {"Self", "First", "Last", "Next"} <= set(page["Links"])
    assert "Prev" not in page["Links"]
    seen = list(page["Data"]["Transaction"])
    while "Next" in page["Links"]:
        page = requests.get(page["Links"]["Next"], headers=headers).json()
        seen.extend(page["Data"]["Transaction"])
    assert "Prev" in page["Links"]
    assert [t["TransactionId"] for t in seen] == truth["line_id"].to_list()
    tx = seen[0]
    assert tx["AccountId"] == account and tx["Status"] in ("Booked", "Pending")
    assert tx["CreditDebitIndicator"] in ("Credit", "Debit")
    assert not tx["Amount"]["Amount"].startswith("-")
    assert tx["BookingDateTime"].endswith("+00:00")

    since = requests.get(
        url, headers=headers, params={"fromBookingDateTime": "2026-10-15T00:00:00"}
    ).json()
    want = truth.filter(pl.col("booked_date") >= pl.date(2026, 10, 15)).height
    assert since["Meta"]["TotalPages"] == math.ceil(want / 100)
    bad = requests.get(url, headers=headers, params={"fromBookingDateTime": "yesterday"})
    assert bad.status_code == 400
    assert bad.json()["Errors"][0]["ErrorCode"] == "UK.OBIE.Field.InvalidDate"
    unknown = requests.get(f"{ob.base}{AISP}/accounts/nope/balances", headers=headers)
    assert unknown.status_code == 400
    assert unknown.json()["Errors"][0]["ErrorCode"] == "UK.OBIE.Resource.NotFound"

    balances = requests.get(f"{ob.base}{AISP}/accounts/{account}/balances", headers=headers)
    types = {b["Type"]: b for b in balances.json()["Data"]["Balance"]}
    assert set(types) == {"InterimBooked", "InterimAvailable"}
    assert balances.headers["x-fapi-interaction-id"]
