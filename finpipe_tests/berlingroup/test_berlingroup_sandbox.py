"""The Berlin Group sandbox speaks NextGenPSD2: consent lifecycle, the OAuth SCA approach,
AIS paths and payload shapes, paging links, error bodies and frequencyPerDay."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest
import requests

from finpipe.connectors.berlingroup import consent_request, to_minor
from finpipe_tests.berlingroup.conftest import Running, StartSandbox

REDIRECT = "http://127.0.0.1:9/callback"


def tpp(running: Running) -> tuple[str, str]:
    return (running.credentials.client_id, running.credentials.client_secret)


def create_consent(running: Running, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.post(
        f"{running.base}/v1/consents",
        json=body or consent_request(),
        headers={"X-Request-ID": str(uuid.uuid4()), "TPP-Redirect-URI": REDIRECT},
        auth=tpp(running),
        timeout=10,
    )


def authorise(running: Running, consent_id: str, company: str) -> str:
    """The OAuth SCA approach by hand; returns an access token for the consent."""
    created_links = {"scaOAuth": f"{running.base}/.well-known/oauth-authorization-server"}
    meta = requests.get(created_links["scaOAuth"], timeout=10).json()
    answer = requests.get(
        meta["authorization_endpoint"],
        params={
            "response_type": "code",
            "client_id": running.credentials.client_id,
            "redirect_uri": REDIRECT,
            "scope": f"AIS:{consent_id}",
            "state": "s1",
            "sandbox_company": company,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    token = requests.post(
        meta["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=tpp(running),
        timeout=10,
    ).json()
    assert token["scope"] == f"AIS:{consent_id}"
    return str(token["access_token"])


def ais(
    running: Running, path: str, token: str, consent_id: str, **headers: str
) -> requests.Response:
    url = path if path.startswith("http") else f"{running.base}{path}"
    return requests.get(
        url,
        headers={
            "Authorization": f"Bearer {token}",
            "Consent-ID": consent_id,
            "X-Request-ID": "req-1",
            **headers,
        },
        timeout=10,
    )


@pytest.fixture
def live(bg: Running) -> tuple[Running, str, str, str]:
    """(sandbox, company, consent id, access token) of an authorised consent."""
    company = bg.companies()[0]
    consent_id = create_consent(bg).json()["consentId"]
    return bg, company, consent_id, authorise(bg, consent_id, company)


def code_of(response: requests.Response) -> str:
    return response.json()["tppMessages"][0]["code"]


def test_consent_lifecycle(bg: Running) -> None:
    created = create_consent(bg)
    assert created.status_code == 201
    body = created.json()
    consent_id = body["consentId"]
    assert body["consentStatus"] == "received"
    assert set(body["_links"]) == {"scaOAuth", "self", "status"}
    assert body["_links"]["status"]["href"] == f"/v1/consents/{consent_id}/status"
    assert created.headers["X-Request-ID"] and created.headers["ASPSP-SCA-Approach"] == "OAUTH"
    meta = requests.get(body["_links"]["scaOAuth"]["href"], timeout=10).json()
    assert meta["authorization_endpoint"].endswith("/berlingroup/oauth/authorize")

    def status() -> str:
        return requests.get(
            f"{bg.base}/v1/consents/{consent_id}/status",
            headers={"X-Request-ID": "r"},
            auth=tpp(bg),
            timeout=10,
        ).json()["consentStatus"]

    assert status() == "received"
    company = bg.companies()[0]
    token = authorise(bg, consent_id, company)
    assert status() == "valid"
    details = requests.get(
        f"{bg.base}/v1/consents/{consent_id}",
        headers={"X-Request-ID": "r"},
        auth=tpp(bg),
        timeout=10,
    ).json()
    assert details["recurringIndicator"] is True and details["frequencyPerDay"] == 4
    assert details["access"]["allPsd2"] == "allAccounts"
    ibans = {a.get("iban") for a in details["access"]["accounts"]}
    assert ibans & set(bg.sandbox.view.accounts_of(company)["iban"].drop_nulls())
    # validUntil 9999-12-31 asks for the maximum: the ASPSP grants 180 days.
    today = bg.sandbox.consents.today()
    assert (dt.date.fromisoformat(details["validUntil"]) - today).days == 180

    assert ais(bg, "/v1/accounts", token, consent_id).status_code == 200
    deleted = requests.delete(
        f"{bg.base}/v1/consents/{consent_id}",
        headers={"X-Request-ID": "r"},
        auth=tpp(bg),
        timeout=10,
    )
    assert deleted.status_code == 204 and status() == "terminatedByTpp"
    refused = ais(bg, "/v1/accounts", token, consent_id)
    assert refused.status_code == 401 and code_of(refused) == "CONSENT_INVALID"


def test_consent_request_errors(bg: Running) -> None:
    no_tpp = requests.post(
        f"{bg.base}/v1/consents", json=consent_request(), headers={"X-Request-ID": "r"}, timeout=10
    )
    assert no_tpp.status_code == 401 and code_of(no_tpp) == "CERTIFICATE_MISSING"
    no_id = requests.post(
        f"{bg.base}/v1/consents", json=consent_request(), auth=tpp(bg), timeout=10
    )
    assert no_id.status_code == 400 and "X-Request-ID" in no_id.json()["tppMessages"][0]["text"]
    bad = create_consent(bg, {**consent_request(), "validUntil": "01.01.2027"})
    assert bad.status_code == 400 and code_of(bad) == "FORMAT_ERROR"
    assert "validUntil" in bad.json()["tppMessages"][0]["text"]
    # The specification's own example body (booleans and numbers as strings) is accepted.
    example = create_consent(
        bg,
        {
            "access": {"availableAccounts": "allAccounts"},
            "recurringIndicator": "false",
            "validUntil": "2099-08-06",
            "frequencyPerDay": "1",
        },
    )
    assert example.status_code == 201, example.text


def test_accounts_balances_and_transaction_report(live: tuple[Running, str, str, str]) -> None:
    bg, company, consent_id, token = live
    listed = ais(bg, "/v1/accounts", token, consent_id)
    assert listed.headers["X-Request-ID"] == "req-1"
    accounts = listed.json()["accounts"]
    view = bg.sandbox.view
    assert {a["resourceId"] for a in accounts} == set(view.accounts_of(company)["bank_account_id"])
    for account in accounts:
        assert {"resourceId", "currency", "name", "cashAccountType", "status", "_links"} <= set(
            account
        )
        assert ("iban" in account) or ("maskedPan" in account) or ("bban" in account)
        balances = ais(bg, account["_links"]["balances"]["href"], token, consent_id).json()
        kinds = {b["balanceType"]: b for b in balances["balances"]}
        assert set(kinds) == {"closingBooked", "interimAvailable", "expected"}
        closing = kinds["closingBooked"]["balanceAmount"]
        assert isinstance(closing["amount"], str)
        assert to_minor(closing["amount"], closing["currency"]) == view.booked_balance(
            account["resourceId"]
        )

    biggest = max(accounts, key=lambda a: view.lines(a["resourceId"]).height)
    href = f"{biggest['_links']['transactions']['href']}?bookingStatus=both&dateFrom=2000-01-01"
    booked: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    pages = 0
    while href:
        page = ais(bg, href, token, consent_id).json()
        report = page["transactions"]
        booked += report["booked"]
        pending += report["pending"]
        pages += 1
        href = report["_links"].get("next", {}).get("href")
    assert pages > 1 and "last" in report["_links"]
    truth = view.lines(biggest["resourceId"])
    assert len(booked) == truth.filter(pl.col("status") == "booked").height
    assert len(pending) == truth.filter(pl.col("status") == "pending").height
    assert all("bookingDate" in t and "entryReference" in t for t in booked)
    assert all("bookingDate" not in t for t in pending)
    total = sum(Decimal(t["transactionAmount"]["amount"]) for t in booked)
    assert int(total * 100) == truth.filter(pl.col("status") == "booked")["amount"].sum()
    out = next(t for t in booked if t["transactionAmount"]["amount"].startswith("-"))
    assert "debtorName" not in out and "debtorAccount" not in out
    details = ais(bg, booked[0]["_links"]["transactionDetails"]["href"], token, consent_id).json()
    assert details["transactionsDetails"]["transactionId"] == booked[0]["transactionId"]


def test_ais_errors(live: tuple[Running, str, str, str]) -> None:
    bg, company, consent_id, token = live
    account = bg.sandbox.view.accounts_of(company).item(0, "bank_account_id")
    path = f"/v1/accounts/{account}/transactions"
    missing = ais(bg, path, token, consent_id)
    assert missing.status_code == 400 and code_of(missing) == "FORMAT_ERROR"
    assert missing.headers["X-Request-ID"] == "req-1"
    unsupported = ais(
        bg, f"{path}?bookingStatus=information&dateFrom=2026-01-01", token, consent_id
    )
    assert unsupported.status_code == 400 and code_of(unsupported) == "PARAMETER_NOT_SUPPORTED"
    no_from = ais(bg, f"{path}?bookingStatus=both", token, consent_id)
    assert no_from.status_code == 400 and "dateFrom" in no_from.json()["tppMessages"][0]["text"]
    bg.sandbox.history_days = 90
    old = ais(bg, f"{path}?bookingStatus=both&dateFrom=2000-01-01", token, consent_id)
    assert old.status_code == 400 and code_of(old) == "PERIOD_INVALID"
    bg.sandbox.history_days = None
    unknown = ais(bg, "/v1/accounts/nope/balances", token, consent_id)
    assert unknown.status_code == 403 and code_of(unknown) == "RESOURCE_UNKNOWN"
    other = ais(bg, "/v1/accounts", token, str(uuid.uuid4()))
    assert other.status_code == 403 and code_of(other) == "CONSENT_UNKNOWN"
    bad_token = ais(bg, "/v1/accounts", "not-a-token", consent_id)
    assert bad_token.status_code == 401 and code_of(bad_token) == "TOKEN_INVALID"
    bg.sandbox.oauth.expire_access_tokens()
    expired = ais(bg, "/v1/accounts", token, consent_id)
    assert expired.status_code == 401 and code_of(expired) == "TOKEN_EXPIRED"
    # A token of one consent does not open another.
    second = create_consent(bg).json()["consentId"]
    token2 = authorise(bg, second, company)
    crossed = ais(bg, "/v1/accounts", token2, consent_id)
    assert crossed.status_code == 401 and code_of(crossed) == "CONSENT_INVALID"
    bg.sandbox.expire_consent(second)
    gone = ais(bg, "/v1/accounts", token2, second)
    assert gone.status_code == 401 and code_of(gone) == "CONSENT_EXPIRED"


def test_frequency_per_day_counts_accesses_without_the_psu(
    live: tuple[Running, str, str, str],
) -> None:
    bg, company, consent_id, token = live
    account = bg.sandbox.view.accounts_of(company).item(0, "bank_account_id")
    path = f"/v1/accounts/{account}/balances"
    for _ in range(4):
        assert ais(bg, path, token, consent_id).status_code == 200
    exceeded = ais(bg, path, token, consent_id)
    assert exceeded.status_code == 429 and code_of(exceeded) == "ACCESS_EXCEEDED"
    assert "Retry-After" not in exceeded.headers
    # Another endpoint of the same account has its own count; the PSU being present is free.
    assert ais(bg, f"/v1/accounts/{account}", token, consent_id).status_code == 200
    assert ais(bg, path, token, consent_id, **{"PSU-IP-Address": "192.168.8.78"}).status_code == 200
    bg.sandbox.advance(86_400)
    assert ais(bg, path, token, consent_id).status_code == 200


def test_faults_answer_in_the_spec_form(start_sandbox: StartSandbox) -> None:
    bg = start_sandbox()
    company = bg.companies()[0]
    consent_id = create_consent(bg).json()["consentId"]
    token = authorise(bg, consent_id, company)
    bg.sandbox.faults.configure(storm_429=1, storm_retry_after=2)
    throttled = ais(bg, "/v1/accounts", token, consent_id)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert code_of(throttled) == "ACCESS_EXCEEDED"
    bg.sandbox.faults.configure(error_rate=1.0)
    failed = ais(bg, "/v1/accounts", token, consent_id)
    assert failed.status_code == 503 and code_of(failed) == "SERVICE_UNAVAILABLE"
