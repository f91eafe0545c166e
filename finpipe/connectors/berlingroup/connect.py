"""Connecting a company: an AIS consent authorised by the PSU through the OAuth SCA approach.

1. ``POST /v1/consents`` for ``allPsd2: allAccounts``, recurring, ``validUntil: 9999-12-31``
   (the ASPSP grants its maximum and says which in the consent), ``frequencyPerDay`` (4 by
   default: the RTS's allowance for accesses without the PSU) and
   ``TPP-Redirect-URI`` = the loopback receiver.
2. The ``scaOAuth`` link gives the authorisation server's metadata; the PSU authorises
   ``scope=AIS:<consentId>`` in the authorization-code flow
   (:func:`finpipe.connectors.connect.connect`: loopback redirect, ``state`` check, code
   exchange, tokens stored encrypted in ``ops.oauth_tokens``).
3. The consent must now be ``valid``; the token set is stored again with its scope
   ``AIS:<consentId>`` (inside the encrypted secret), and the connection is recorded in
   ``ops.connections`` with ``external_id`` = consentId. A previous consent of the company
   is terminated at the bank (``DELETE``) and its connection row marked ``removed``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl

from finpipe.connectors.banks import BankContext
from finpipe.connectors.berlingroup.client import PROVIDER, TppClient, oauth_app
from finpipe.connectors.connect import connect
from finpipe.connectors.errors import ConnectorError, ProviderError
from finpipe.connectors.oauth import OAuthApp, TokenSet, TokenStore
from finpipe.warehouse.tables.ops import CONNECTIONS

UTC = dt.UTC
DEFAULT_FREQUENCY = 4


def consent_request(frequency_per_day: int = DEFAULT_FREQUENCY) -> dict[str, Any]:
    """The body finpipe asks consents with: every account, balances and transactions."""
    return {
        "access": {"allPsd2": "allAccounts"},
        "recurringIndicator": True,
        "validUntil": "9999-12-31",  # the spec's way to ask for the longest validity
        "frequencyPerDay": frequency_per_day,
        "combinedServiceIndicator": False,
    }


def sca_oauth_href(created: dict[str, Any]) -> str:
    """The ``scaOAuth`` link of a consent creation answer; other SCA approaches (redirect,
    decoupled, embedded) are an error naming what the ASPSP offered."""
    links = created.get("_links") or {}
    href = (links.get("scaOAuth") or {}).get("href") if isinstance(links, dict) else None
    if not href:
        raise ConnectorError(
            f"berlingroup consent {created.get('consentId')} offers no scaOAuth link (it offers "
            f"{sorted(links) if isinstance(links, dict) else links}): finpipe supports the "
            "OAuth SCA approach only; ask the ASPSP for it or use statement files"
        )
    return str(href)


def connect_berlingroup(
    ctx: BankContext,
    auto_approve: bool = False,
    announce: Callable[[str], None] = print,
    *,
    frequency_per_day: int = DEFAULT_FREQUENCY,
    port: int | None = None,
    timeout: float | None = None,
) -> list[tuple[str, str]]:
    """Create and authorise a consent for ``ctx.company_id``; returns
    ``[(consentId, display name)]``. ``auto_approve`` is for the sandbox only. The loopback
    port and approval timeout default to the context's (``redirect_port``,
    ``approval_timeout``)."""
    port = port if port is not None else int(getattr(ctx, "redirect_port", 0))
    timeout = timeout if timeout is not None else float(getattr(ctx, "approval_timeout", 300.0))
    store = TokenStore(ctx.warehouse, ctx.box)
    tpp = TppClient(ctx.api_base, ctx.credentials)
    created: dict[str, Any] = {}

    def make_app(redirect_uri: str) -> OAuthApp:
        # The consent is created here, once the loopback receiver (its redirect) exists.
        body = tpp.create_consent(consent_request(frequency_per_day), redirect_uri)
        created.update(body)
        metadata = tpp.authorisation_server(sca_oauth_href(body))
        return oauth_app(metadata, ctx.credentials, str(body["consentId"]), redirect_uri)

    def discover(tokens: TokenSet, params: dict[str, str]) -> list[tuple[str, str]]:
        consent_id = str(created["consentId"])
        details = tpp.consent(consent_id)
        status = details.get("consentStatus")
        if status != "valid":
            raise ConnectorError(
                f"berlingroup consent {consent_id} is {status!r} after authorisation, not "
                "'valid'; start again with `finpipe connect berlingroup`"
            )
        return [(consent_id, f"Berlin Group consent valid until {details.get('validUntil')}")]

    before = ctx.warehouse.read(
        CONNECTIONS,
        where="company_id = %s AND provider = %s",
        params=[ctx.company_id, PROVIDER],
    )
    result = connect(
        make_app,
        store,
        ctx.company_id,
        discover,
        auto_approve=auto_approve,
        port=port,
        timeout=timeout,
        announce=announce,
    )
    consent_id = str(created["consentId"])
    now = dt.datetime.now(UTC)
    scope = f"AIS:{consent_id}"
    if result.tokens.scope != scope:
        # Keep the consent id inside the encrypted secret even if the ASPSP omits scope.
        store.save(ctx.company_id, PROVIDER, dataclasses.replace(result.tokens, scope=scope), now)
    _retire_previous(ctx, tpp, before, consent_id, now)
    announce(f"berlingroup consent {consent_id} is valid for {ctx.company_id}")
    return result.external_ids


def _retire_previous(
    ctx: BankContext, tpp: TppClient, before: pl.DataFrame, consent_id: str, now: dt.datetime
) -> None:
    """Terminate the company's earlier consents (one consent per company) and mark their
    connection rows ``removed``."""
    old = before.filter((pl.col("external_id") != consent_id) & (pl.col("status") != "removed"))
    if old.is_empty():
        return
    for previous in old.get_column("external_id").to_list():
        # Already expired, revoked or unknown at the bank: nothing left to end.
        with contextlib.suppress(ProviderError):
            tpp.delete_consent(previous)
    ctx.warehouse.upsert(
        CONNECTIONS,
        old.with_columns(
            pl.lit("removed").alias("status"),
            pl.lit(f"replaced by consent {consent_id}").alias("status_reason"),
            pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("updated_at"),
        ),
    )
