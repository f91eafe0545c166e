"""The Xero sandbox over HTTP: Xero's paths, headers, envelopes, paging and errors."""

from __future__ import annotations

import datetime as dt

import requests

from finpipe.connectors import payloads
from finpipe.connectors.xero import list_tenants, parse_date, parse_endpoint
from finpipe.warehouse import Warehouse

UTC = dt.UTC
API = "/api.xro/2.0"


def _get(xero, tokens, tenant_id: str, path: str, **kwargs) -> requests.Response:
    headers = {
        "Authorization": tokens.authorization_header(),
        "xero-tenant-id": tenant_id,
        "Accept": "application/json",
        **kwargs.pop("headers", {}),
    }
    return requests.get(f"{xero.base}{API}/{path}", headers=headers, timeout=10, **kwargs)


def test_connections_list_only_the_granted_tenant(xero, duck: Warehouse) -> None:
    tenant_id = xero.sandbox.tenant_ids()[0]
    company = xero.company_of(tenant_id)
    tokens = xero.connect(duck, company)
    (connection,) = list_tenants(xero.base, tokens)
    assert connection["tenantId"] == tenant_id
    assert connection["tenantType"] == "ORGANISATION"
    assert connection["tenantName"] == xero.sandbox.companies[tenant_id]["name"]
    assert set(connection) == {
        "id",
        "authEventId",
        "tenantId",
        "tenantType",
        "tenantName",
        "createdDateUtc",
        "updatedDateUtc",
    }
    assert parse_date(connection["createdDateUtc"]) is not None  # 7 fraction digits, no zone


def test_envelope_pagination_and_limit_headers(xero, duck: Warehouse) -> None:
    tenant_id = xero.sandbox.tenant_ids()[0]
    tokens = xero.connect(duck, xero.company_of(tenant_id))
    total = len(xero.sandbox.records(tenant_id, "Invoices"))
    answer = _get(xero, tokens, tenant_id, "Invoices", params={"page": 2, "pageSize": 7})
    assert answer.status_code == 200
    for header in ("X-MinLimit-Remaining", "X-DayLimit-Remaining", "X-AppMinLimit-Remaining"):
        assert int(answer.headers[header]) > 0
    body = payloads.loads(answer.content)
    assert list(body)[:4] == ["Id", "Status", "ProviderName", "DateTimeUTC"]
    assert body["Status"] == "OK" and body["DateTimeUTC"].startswith("/Date(")
    assert body["pagination"] == {
        "page": 2,
        "pageSize": 7,
        "pageCount": -(-total // 7),
        "itemCount": total,
    }
    page = parse_endpoint("Invoices", body)
    assert len(page) == 7
    ordered = sorted(
        xero.sandbox.records(tenant_id, "Invoices"),
        key=lambda r: (parse_date(r["UpdatedDateUTC"]), r["InvoiceID"]),
    )
    assert [r.source_id for r in page] == [r["InvoiceID"] for r in ordered[7:14]]
    # pageSize is capped at 1000; unpaged endpoints carry no pagination block.
    capped = payloads.loads(
        _get(xero, tokens, tenant_id, "Invoices", params={"page": 1, "pageSize": 5000}).content
    )
    assert capped["pagination"]["pageSize"] == 1000
    assert "pagination" not in payloads.loads(_get(xero, tokens, tenant_id, "Accounts").content)


def test_if_modified_since_and_journal_offset(xero, duck: Warehouse) -> None:
    tenant_id = xero.sandbox.tenant_ids()[0]
    tokens = xero.connect(duck, xero.company_of(tenant_id))
    stamps = sorted(
        parse_date(r["UpdatedDateUTC"]) for r in xero.sandbox.records(tenant_id, "Contacts")
    )
    since = stamps[len(stamps) // 2].replace(microsecond=0)
    answer = _get(
        xero,
        tokens,
        tenant_id,
        "Contacts",
        headers={"If-Modified-Since": since.strftime("%Y-%m-%dT%H:%M:%S")},
    )
    newer = parse_endpoint("Contacts", payloads.loads(answer.content))
    assert newer and all(r.updated_at >= since + dt.timedelta(seconds=1) for r in newer)
    assert len(newer) == sum(1 for s in stamps if s >= since + dt.timedelta(seconds=1))
    # The RFC 1123 form of the header means the same.
    rfc = since.strftime("%a, %d %b %Y %H:%M:%S GMT")
    same = _get(xero, tokens, tenant_id, "Contacts", headers={"If-Modified-Since": rfc})
    assert [r.source_id for r in parse_endpoint("Contacts", payloads.loads(same.content))] == [
        r.source_id for r in newer
    ]

    journals = payloads.loads(
        _get(xero, tokens, tenant_id, "Journals", params={"offset": 250}).content
    )
    assert "pagination" not in journals
    numbers = [j["JournalNumber"] for j in journals["Journals"]]
    assert numbers == list(range(251, 351))
    one = payloads.loads(
        _get(xero, tokens, tenant_id, f"Journals/{journals['Journals'][0]['JournalID']}").content
    )
    assert one["Journals"][0]["JournalNumber"] == 251


def test_xero_error_answers(xero, duck: Warehouse) -> None:
    first, second = xero.sandbox.tenant_ids()[:2]
    tokens = xero.connect(duck, xero.company_of(first))
    # A tenant the grant did not connect: 403 AuthenticationUnsuccessful.
    other = _get(xero, tokens, second, "Invoices")
    assert other.status_code == 403
    assert payloads.loads(other.content)["Detail"] == "AuthenticationUnsuccessful"
    assert _get(xero, tokens, "", "Invoices").status_code == 403
    # An unknown id: 404 in plain text, as Xero answers it.
    missing = _get(xero, tokens, first, "Invoices/00000000-0000-0000-0000-000000000000")
    assert (missing.status_code, missing.text) == (
        404,
        "The resource you're looking for cannot be found",
    )
    # An expired token: 401 with Xero's problem document.
    xero.sandbox.oauth.expire_access_tokens()
    expired = _get(xero, tokens, first, "Invoices")
    assert expired.status_code == 401
    body = payloads.loads(expired.content)
    assert body["Title"] == "Unauthorized" and body["Detail"].startswith("TokenExpired: ")
    garbage = requests.get(
        f"{xero.base}{API}/Invoices",
        timeout=10,
        headers={"Authorization": "Bearer nope", "xero-tenant-id": first},
    )
    assert payloads.loads(garbage.content)["Detail"] == "AuthenticationUnsuccessful"


def test_429_names_the_limit(start_sandbox, duck: Warehouse) -> None:
    from finpipe.sandbox.provider import Limit

    running = start_sandbox(published=True)
    running.sandbox.limits = (Limit("minute", 3, 60.0), Limit("day", 5000, 86_400.0))
    tenant_id = running.sandbox.tenant_ids()[0]
    tokens = running.connect(duck, running.company_of(tenant_id))
    answers = [_get(running, tokens, tenant_id, "Currencies") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-MinLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[-1].headers["X-Rate-Limit-Problem"] == "minute"
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert running.sandbox.counters_snapshot()[tenant_id]["limit_rejections"] == 1
