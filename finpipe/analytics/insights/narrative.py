"""Optional narrative of a company's verified insights through an OpenAI-compatible endpoint.

Off unless ``FINPIPE_LLM_BASE_URL`` and ``FINPIPE_LLM_MODEL`` are set (``FINPIPE_LLM_API_KEY``
is sent as a bearer token when set; it is never logged, stored or put in an error). The
endpoint receives only the verified insights' facts: kind, subject and each cited number's
key and written form (no rows, no ids, no text beyond those numbers). Its answer is checked
like an insight's text: every number it writes must be one of the facts' numbers written the
same way (:mod:`.formats`); otherwise it is rejected and only the reason is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import requests

from finpipe.analytics.insights.formats import number_tokens
from finpipe.logsafe import redact
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_insights import INSIGHT_NARRATIVES, INSIGHTS

SYSTEM_PROMPT = (
    "You write a short summary (at most five sentences) of a small business's financial "
    "insights for its owner. Use only the facts given. Write every number exactly as it is "
    "given (same digits, separators, currency and % sign) and write no other number: no "
    "totals, differences, counts or dates of your own; spell small counts as words."
)


@dataclass(frozen=True)
class LLMConfig:
    """Where the endpoint is; ``api_key`` is kept out of ``repr``."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LLMConfig | None:
        """The configuration from ``FINPIPE_LLM_*``, or None when the narrative is off."""
        env = os.environ if env is None else env
        base, model = env.get("FINPIPE_LLM_BASE_URL"), env.get("FINPIPE_LLM_MODEL")
        if not base or not model:
            return None
        return cls(base.rstrip("/"), model, env.get("FINPIPE_LLM_API_KEY") or None)


def facts_payload(insights: pl.DataFrame) -> list[dict[str, Any]]:
    """The verified insights' facts, in rank order: kind, subject and numbers (key, written
    value, unit)."""
    out = []
    for row in insights.filter(pl.col("verified")).sort("rank").iter_rows(named=True):
        numbers = json.loads(row["facts"])
        out.append(
            {
                "kind": row["kind"],
                "subject": row["subject"],
                "numbers": [
                    {"key": n["key"], "value": n["shown"], "unit": n["unit"]} for n in numbers
                ],
            }
        )
    return out


def unbacked_numbers(text: str, payload: list[dict[str, Any]]) -> list[str]:
    """Numbers written in ``text`` that are not one of the payload's numbers as written."""
    numbers = [n for fact in payload for n in fact["numbers"]]
    backed = {t for n in numbers if n["unit"] != "text" for t in number_tokens(n["value"])}
    # Names and document numbers are facts too; the digits in them are not numbers.
    labels = tuple(n["value"] for n in numbers if n["unit"] == "text")
    return sorted({t for t in number_tokens(text, labels) if t not in backed})


def ask(config: LLMConfig, payload: list[dict[str, Any]]) -> str:
    """The endpoint's answer (``/chat/completions``) to the facts; raises
    ``requests.RequestException`` on a transport or HTTP error."""
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    body = {
        "model": config.model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
        ],
    }
    response = requests.post(
        f"{config.base_url}/chat/completions", json=body, headers=headers, timeout=config.timeout
    )
    response.raise_for_status()
    return str(response.json()["choices"][0]["message"]["content"]).strip()


def narrate(
    warehouse: Warehouse,
    company_id: str,
    config: LLMConfig | None = None,
    insights: pl.DataFrame | None = None,
) -> dict[str, Any] | None:
    """Ask for, check and store the company's narrative (``analytics.insight_narratives``);
    returns the stored row, or None when the narrative is off or nothing is verified.

    ``insights`` is the company's just-built insights frame; without it the stored
    ``analytics.insights`` partition is read."""
    config = config or LLMConfig.from_env()
    if config is None:
        return None
    if insights is None:
        insights = warehouse.read(INSIGHTS, company_id=company_id)
    payload = facts_payload(insights)
    if not payload:
        return None
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    status, text, reason = "accepted", None, None
    try:
        answer = ask(config, payload)
    except (requests.RequestException, KeyError, IndexError, ValueError) as exc:
        # The key travels in a header only; redact() guards against an echo anyway.
        status, reason = "failed", redact(f"{type(exc).__name__}: {exc}")
    else:
        stray = unbacked_numbers(answer, payload)
        if stray:
            status, reason = "rejected", f"numbers not among the facts: {', '.join(stray)}"
        else:
            text = answer
    row = {
        "company_id": company_id,
        "month": insights["month"].max(),
        "model": config.model,
        "status": status,
        "narrative": text,
        "reason": reason,
        "facts_sha256": digest,
        "created_at": dt.datetime.now(dt.UTC),
    }
    frame = pl.DataFrame([row], schema=INSIGHT_NARRATIVES.polars_schema())
    warehouse.replace_partition(INSIGHT_NARRATIVES, company_id, frame)
    return row
