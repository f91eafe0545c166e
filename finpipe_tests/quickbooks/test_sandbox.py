"""The QBO sandbox over HTTP: query language, CDC, reads and writes, QBO's error bodies,
OAuth answers and throttling."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

import requests

from finpipe.connectors import payloads
from finpipe.connectors.quickbooks import parse_response

if TYPE_CHECKING:
    from conftest import QBO


def _get(qbo: QBO, headers: dict[str, str], realm: str, path: str, **params: str):
    with qbo.limiter.slot():
        return requests.get(qbo.api(realm, path), headers=headers, params=params, timeout=10)


def _post(qbo: QBO, headers: dict[str, str], realm: str, path: str, body: object, **params: str):
    with qbo.limiter.slot():
        return requests.post(
            qbo.api(realm, path),
            headers={**headers, "Content-Type": "application/json"},
            params=params,
            data=payloads.dumps(body),
            timeout=10,
        )


def test_oauth_redirect_and_token_answer(qbo: QBO) -> None:
    company, realm = qbo.companies[0]
    location = qbo.authorize(company)
    assert f"realmId={realm}" in location and "code=" in location and "state=state-1" in location
    code = location.split("code=")[1].split("&")[0]
    answer = requests.post(
        f"{qbo.base}/oauth2/v1/tokens/bearer",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": qbo.app.redirect_uri,
        },
        auth=(qbo.app.client_id, qbo.app.client_secret),
        timeout=10,
    )
    body = answer.json()
    assert body["expires_in"] == 3600 and body["x_refresh_token_expires_in"] == 8726400
    assert body["token_type"] == "Bearer"


def test_query_language(qbo: QBO) -> None:
    company, realm = qbo.companies[0]
    h = qbo.bearer(company)
    everything = _get(qbo, h, realm, "query", query="SELECT * FROM Invoice MAXRESULTS 1000")
    assert everything.status_code == 200
    assert everything.headers["content-type"].startswith("application/json")
    invoices = parse_response(everything.content).records
    count = _get(qbo, h, realm, "query", query="select count(*) from invoice").json()
    assert count["QueryResponse"]["totalCount"] == len(invoices) > 3
    # paging: startPosition is 1-based, maxResults is what came back
    page2 = _get(
        qbo,
        h,
        realm,
        "query",
        query="SeLeCt * FrOm Invoice ORDERBY Metadata.LastUpdatedTime STARTPOSITION 3 MAXRESULTS 2",
    ).json()["QueryResponse"]
    assert page2["startPosition"] == 3 and page2["maxResults"] == 2
    ordered = sorted(invoices, key=lambda r: (r.updated_at, int(r.id)))
    assert [i["Id"] for i in page2["Invoice"]] == [r.id for r in ordered[2:4]]
    # LastUpdatedTime filter, spelled either way
    pivot = ordered[len(ordered) // 2].payload["MetaData"]["LastUpdatedTime"]
    later = _get(
        qbo,
        h,
        realm,
        "query",
        query=f"select * from Invoice where MetaData.LastUpdatedTime > '{pivot}'",
    ).json()
    expected = [r.id for r in ordered if r.updated_at > dt.datetime.fromisoformat(pivot)]
    assert sorted(i["Id"] for i in later["QueryResponse"]["Invoice"]) == sorted(expected)
    # an empty answer is an empty QueryResponse
    empty = _get(qbo, h, realm, "query", query="SELECT * FROM Invoice STARTPOSITION 100000")
    assert empty.json()["QueryResponse"] == {}
    # amounts are JSON numbers with two decimals
    assert '"TotalAmt":' in everything.text
    first = everything.json(parse_float=str)["QueryResponse"]["Invoice"][0]["TotalAmt"]
    assert Decimal(first).as_tuple().exponent == -2


def test_name_lists_answer_active_rows_unless_asked(qbo: QBO) -> None:
    company, realm = qbo.companies[0]
    h = qbo.bearer(company)
    accounts = qbo.provider.records(realm, "Account")
    inactive = [a for a in accounts if not a["Active"]]
    if not inactive:  # make one: QBO's delete of a name-list object is "make inactive"
        inactive = [qbo.provider.delete(realm, "Account", accounts[-1]["Id"])]
    assert inactive[0]["Name"].endswith("(deleted)")
    active = _get(qbo, h, realm, "query", query="select count(*) from Account").json()
    both = _get(
        qbo, h, realm, "query", query="select count(*) from Account where Active IN (true, false)"
    ).json()
    assert both["QueryResponse"]["totalCount"] == len(qbo.provider.records(realm, "Account"))
    assert active["QueryResponse"]["totalCount"] == both["QueryResponse"]["totalCount"] - len(
        inactive
    )


def test_query_faults(qbo: QBO) -> None:
    company, realm = qbo.companies[0]
    h = qbo.bearer(company)
    unknown = _get(qbo, h, realm, "query", query="SELECT * FROM Custmoer")
    assert unknown.status_code == 400
    error = unknown.json()["Fault"]["Error"][0]
    assert error["code"] == "4001" and "invalid context declaration: Custmoer" in error["Detail"]
    assert unknown.json()["Fault"]["type"] == "ValidationFault"
    too_many = _get(qbo, h, realm, "query", query="SELECT * FROM Bill MAXRESULTS 1001")
    assert too_many.json()["Fault"]["Error"][0]["Detail"] == (
        "QueryValidationError: value 1001 is too large. Max allowed value is 1000"
    )
    garbled = _get(qbo, h, realm, "query", query="SELECT FROM Bill")
    assert garbled.json()["Fault"]["Error"][0]["code"] == "4000"
    by_id = _get(qbo, h, realm, "query", query="SELECT * FROM Bill WHERE Id > '3'")
    assert by_id.json()["Fault"]["Error"][0]["code"] == "4001"


def test_cdc_shape_deletions_and_window(qbo: QBO) -> None:
    company, realm = qbo.companies[0]
    h = qbo.bearer(company)
    sandbox = qbo.provider
    invoice = sandbox.records(realm, "Invoice")[0]
    bill = sandbox.records(realm, "Bill")[0]
    since = sandbox.now().isoformat(timespec="seconds")
    sandbox.advance_clock(5)
    sandbox.update(realm, "Invoice", invoice["Id"], {"PrivateNote": "changed"})
    sandbox.delete(realm, "Bill", bill["Id"])
    answer = _get(qbo, h, realm, "cdc", entities="Invoice,Bill,Customer", changedSince=since)
    body = answer.json()
    blocks = body["CDCResponse"][0]["QueryResponse"]
    assert [next(iter(b), None) for b in blocks] == ["Invoice", "Bill", None]
    assert [i["Id"] for i in blocks[0]["Invoice"]] == [invoice["Id"]]
    assert blocks[0]["Invoice"][0]["PrivateNote"] == "changed"
    tomb = blocks[1]["Bill"][0]
    assert tomb["status"] == "Deleted" and tomb["Id"] == bill["Id"] and tomb["domain"] == "QBO"
    assert "LastUpdatedTime" in tomb["MetaData"]
    assert blocks[1]["startPosition"] == 1 and blocks[1]["maxResults"] == 1
    old = (sandbox.now() - dt.timedelta(days=31)).isoformat(timespec="seconds")
    refused = _get(qbo, h, realm, "cdc", entities="Invoice", changedSince=old)
    assert refused.status_code == 400
    detail = refused.json()["Fault"]["Error"][0]["Detail"]
    assert "older than fixed days is not supported" in detail


def test_read_create_update_delete_void(qbo: QBO) -> None:
    company, realm = qbo.companies[0]
    h = qbo.bearer(company)
    customer = qbo.provider.records(realm, "Customer")[0]
    body = {
        "CustomerRef": {"value": customer["Id"]},
        "Line": [
            {
                "Amount": Decimal("100.00"),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"Qty": 1, "UnitPrice": Decimal("100.00")},
            }
        ],
        "TxnTaxDetail": {"TotalTax": Decimal("7.25")},
    }
    created = _post(qbo, h, realm, "invoice", body, minorversion="75")
    assert created.status_code == 200, created.text
    invoice = created.json(parse_float=Decimal)["Invoice"]
    assert invoice["SyncToken"] == "0" and invoice["TotalAmt"] == Decimal("107.25")
    assert invoice["Balance"] == Decimal("107.25")
    assert invoice["Line"][-1]["DetailType"] == "SubTotalLineDetail"
    read = _get(qbo, h, realm, f"invoice/{invoice['Id']}").json()["Invoice"]
    assert read["Id"] == invoice["Id"]
    qbo.provider.advance_clock(2)
    sparse = {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "DocNumber": "X-1"}
    updated = _post(qbo, h, realm, "invoice", sparse).json()["Invoice"]
    assert updated["SyncToken"] == "1" and updated["DocNumber"] == "X-1"
    assert updated["MetaData"]["LastUpdatedTime"] > invoice["MetaData"]["LastUpdatedTime"]
    stale = _post(qbo, h, realm, "invoice", sparse)
    assert stale.status_code == 400
    fault = stale.json()["Fault"]
    assert fault["Error"][0]["code"] == "5010"
    assert fault["Error"][0]["Message"] == "Stale Object Error"
    voided = _post(
        qbo, h, realm, "invoice", {"Id": invoice["Id"], "SyncToken": "1"}, operation="void"
    ).json()["Invoice"]
    assert voided["TotalAmt"] == 0 and voided["PrivateNote"] == "Voided"
    deleted = _post(
        qbo, h, realm, "invoice", {"Id": invoice["Id"], "SyncToken": "2"}, operation="delete"
    ).json()
    assert deleted["Invoice"] == {"domain": "QBO", "status": "Deleted", "Id": invoice["Id"]}
    gone = _get(qbo, h, realm, f"invoice/{invoice['Id']}")
    assert gone.status_code == 400 and gone.json()["Fault"]["Error"][0]["code"] == "610"
    bad_id = _get(qbo, h, realm, "invoice/1.5")
    assert bad_id.json()["Fault"]["Error"][0] == {
        "Message": "Invalid ID",
        "Detail": "Id should be a valid number. Supplied value:1.5",
        "code": "2030",
        "element": "Id",
    }
    dup = _post(qbo, h, realm, "customer", {"DisplayName": customer["DisplayName"]})
    assert dup.json()["Fault"]["Error"][0]["code"] == "6240"
    info = _get(qbo, h, realm, f"companyinfo/{realm}").json()["CompanyInfo"]
    assert info["Country"]
    prefs = _get(qbo, h, realm, "preferences").json()["Preferences"]
    assert prefs["CurrencyPrefs"]["HomeCurrency"]["value"] in ("USD", "EUR", "GBP")
    unsupported = _get(qbo, h, realm, "customer/1/5")
    assert unsupported.status_code == 400
    assert unsupported.json()["Fault"]["Error"][0]["Message"] == "Unsupported Operation"


def test_auth_errors(qbo: QBO) -> None:
    (company, realm), (other_company, _other_realm) = qbo.companies[0], qbo.companies[1]
    missing = _get(qbo, {}, realm, "query", query="select * from Bill")
    assert missing.status_code == 401
    body = missing.json()
    assert body["fault"]["type"] == "AUTHENTICATION"
    assert body["fault"]["error"][0]["code"] == "3200" and body["intuitObject"] is None
    assert body["cdcresponse"] == [] and isinstance(body["time"], int)
    wrong_realm = _get(qbo, qbo.bearer(other_company), realm, "query", query="select * from Bill")
    assert wrong_realm.status_code == 403
    h = qbo.bearer(company)
    qbo.provider.oauth.expire_access_tokens()
    expired = _get(qbo, h, realm, "query", query="select * from Bill")
    assert expired.status_code == 401


def test_throttling_answers(qbo: QBO) -> None:
    company, realm = qbo.companies[0]
    h = qbo.bearer(company)
    statuses = []
    url = qbo.api(realm, "query")
    for _ in range(12):  # 10 a second is the published budget; no client limiter here
        r = requests.get(url, headers=h, params={"query": "select count(*) from Item"}, timeout=10)
        statuses.append(r.status_code)
        if r.status_code == 429:
            error = r.json()["Fault"]
            assert error["type"] == "SERVICE" and error["Error"][0]["code"] == "3001"
            assert "ThrottleExceeded" in error["Error"][0]["Message"]
            assert int(r.headers["Retry-After"]) >= 1
    assert 429 in statuses
    assert qbo.provider.counters_snapshot()[realm]["limit_rejections"] >= 1


def test_sandbox_clock_and_paging_mutation_routes(qbo: QBO) -> None:
    company, realm = qbo.companies[0]
    before = qbo.provider.now()
    moved = requests.post(f"{qbo.base}/_sandbox/clock", json={"advance": 3600}, timeout=10)
    assert dt.datetime.fromisoformat(moved.json()["now"]) - before >= dt.timedelta(hours=1)
    requests.post(
        f"{qbo.base}/_sandbox/paging",
        json={"realm": realm, "entity": "Bill", "after_page": 1, "count": 2},
        timeout=10,
    )
    h = qbo.bearer(company)
    oldest = sorted(
        qbo.provider.records(realm, "Bill"),
        key=lambda b: (b["MetaData"]["LastUpdatedTime"], int(b["Id"])),
    )[:2]
    _get(qbo, h, realm, "query", query="select * from Bill orderby Metadata.LastUpdatedTime")
    bumped = {b["Id"]: b for b in qbo.provider.records(realm, "Bill")}
    for bill in oldest:
        assert int(bumped[bill["Id"]]["SyncToken"]) == int(bill["SyncToken"]) + 1
