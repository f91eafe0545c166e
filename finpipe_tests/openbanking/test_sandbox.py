"""The Open Banking sandbox speaks OBIE: consent resources, the request-object authorization,
OBReadTransaction6 paging, interaction ids and OBErrorResponse1 bodies."""

from __future__ import annotations

import base64
import json
import math
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import polars as pl
import requests
from requests import Response

from finpipe.connectors.oauth import TokenStore
from finpipe.connectors.openbanking import ConsentClient, openbanking_app
from finpipe.connectors.openbanking.jws import intent_claims, sign_hs256
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


REDIRECT = "http://127.0.0.1:9/cb"


def _claims(payload: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_connector_request_object_repeats_every_authorization_parameter(
    ob: Running, ob_company: str
) -> None:
    creds = ob.credentials
    consent_id = ConsentClient(ob.base, creds.client_id, creds.client_secret).create()["ConsentId"]
    app = openbanking_app(ob.base, creds.client_id, creds.client_secret, REDIRECT, consent_id)
    url = app.authorization_url("st-1")
    query = dict(parse_qsl(urlsplit(url).query))
    claims = _claims(query["request"].split(".")[1])
    for name in ("client_id", "response_type", "redirect_uri", "scope", "state"):
        assert claims[name] == query[name], name
    assert claims["iss"] == creds.client_id and claims["aud"] == ob.base
    assert claims["nbf"] <= claims["iat"] < claims["exp"] <= claims["iat"] + 3600
    # The sandbox accepts it and issues a code.
    answer = requests.get(f"{url}&sandbox_company={ob_company}", allow_redirects=False)
    assert answer.status_code == 302, answer.text
    assert "code=" in answer.headers["location"]
    assert ob.sandbox.consents[consent_id].status == "Authorised"


def test_request_objects_weaker_than_fapi_are_refused(ob: Running, ob_company: str) -> None:
    creds = ob.credentials
    consent_id = ConsentClient(ob.base, creds.client_id, creds.client_secret).create()["ConsentId"]
    query = {
        "client_id": creds.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid accounts",
        "state": "st-1",
        "sandbox_company": ob_company,
    }
    now = int(time.time())
    good: dict[str, Any] = {
        "iss": creds.client_id,
        "aud": ob.base,
        "client_id": creds.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid accounts",
        "state": "st-1",
        "nonce": "n-1",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "claims": intent_claims(consent_id),
    }

    def authorize(claims: dict[str, Any], secret: str = creds.client_secret) -> Response:
        request = sign_hs256(claims, secret)
        return requests.get(
            f"{ob.base}/oauth2/authorize",
            params={**query, "request": request},
            allow_redirects=False,
        )

    old = {**good, "iat": now - 700, "nbf": now - 700}
    bad = {
        "missing exp": {k: v for k, v in good.items() if k != "exp"},
        "expired": {**old, "exp": now - 60},
        "exp more than an hour ahead": {**good, "exp": now + 2 * 3600},
        "lifetime over an hour": {**good, "iat": now - 3000, "nbf": now - 3000, "exp": now + 900},
        "exp not a number": {**good, "exp": "soon"},
        "wrong aud": {**good, "aud": "https://bank.example/openbanking"},
        "no aud": {k: v for k, v in good.items() if k != "aud"},
        "iss of another client": {**good, "iss": "someone-else"},
        "client_id of another client": {**good, "client_id": "someone-else"},
        "other state": {**good, "state": "st-2"},
        "no state": {k: v for k, v in good.items() if k != "state"},
        "other redirect_uri": {**good, "redirect_uri": "http://127.0.0.1:9/evil"},
        "no redirect_uri": {k: v for k, v in good.items() if k != "redirect_uri"},
        "other scope": {**good, "scope": "openid accounts payments"},
        "other response_type": {**good, "response_type": "code id_token"},
        "no intent": {k: v for k, v in good.items() if k != "claims"},
    }
    for case, claims in bad.items():
        answer = authorize(claims)
        assert answer.status_code == 400, case
        assert answer.json()["error"] == "invalid_request_object", case
        assert "location" not in answer.headers, case
    assert authorize(good, secret="not-the-secret").json()["error"] == "invalid_request_object"
    # No code was issued: the consent still awaits authorisation.
    assert ob.sandbox.consents[consent_id].status == "AwaitingAuthorisation"
    # The same request with a sound object is approved.
    answer = authorize(good)
    assert answer.status_code == 302 and "code=" in answer.headers["location"]
    assert ob.sandbox.consents[consent_id].status == "Authorised"


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
