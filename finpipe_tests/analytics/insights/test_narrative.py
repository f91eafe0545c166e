"""The optional narrative: off without configuration, sent only the verified facts, stored
when every number in it is a fact's number and rejected (with the reason) otherwise. The
endpoint is a tiny OpenAI-compatible fake on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import polars as pl
import pytest

from finpipe.analytics.insights.build import build_insights, write_insights
from finpipe.analytics.insights.narrative import LLMConfig, narrate, unbacked_numbers
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_insights import INSIGHT_NARRATIVES
from finpipe_tests.analytics.insights.seed import CID

KEY = "sk-test-secret-123"


class FakeLLM:
    """An OpenAI-compatible ``/chat/completions`` answering ``answer``; records requests."""

    def __init__(self) -> None:
        self.answer = ""
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                reply = json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": fake.answer}}]}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM()
    yield fake
    fake.stop()


def _written(wh: Warehouse) -> None:
    write_insights(wh, build_insights(wh, CID))


def _config(fake: FakeLLM) -> LLMConfig:
    return LLMConfig(fake.url, "tiny-model", KEY)


def test_off_without_environment(seeded: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    duck = seeded
    for name in ("FINPIPE_LLM_BASE_URL", "FINPIPE_LLM_MODEL", "FINPIPE_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert LLMConfig.from_env() is None
    _written(duck)
    assert narrate(duck, CID) is None
    assert duck.count(INSIGHT_NARRATIVES, CID) == 0


def test_config_from_environment_hides_the_key() -> None:
    env = {
        "FINPIPE_LLM_BASE_URL": "http://x/v1/",
        "FINPIPE_LLM_MODEL": "m",
        "FINPIPE_LLM_API_KEY": KEY,
    }
    config = LLMConfig.from_env(env)
    assert config is not None and config.base_url == "http://x/v1" and config.api_key == KEY
    assert KEY not in repr(config)


def test_a_narrative_of_the_facts_is_stored(seeded: Warehouse, fake_llm: FakeLLM) -> None:
    duck = seeded
    _written(duck)
    fake_llm.answer = (
        "Gross margin fell from 45 % to 38 %. Three customers, led by Acme Ltd "
        "(12,400.00 GBP) and Studio 54 Ltd, owe 89 % of the 28,450.01 GBP overdue."
    )
    row = narrate(duck, CID, _config(fake_llm))
    assert row is not None and row["status"] == "accepted" and row["reason"] is None
    stored = duck.read(INSIGHT_NARRATIVES, company_id=CID)
    assert stored.item(0, "narrative") == fake_llm.answer
    (request,) = fake_llm.requests
    assert request["path"] == "/v1/chat/completions" and request["auth"] == f"Bearer {KEY}"
    facts = json.loads(request["body"]["messages"][1]["content"])
    # Only facts: kind, subject and numbers (key, written value, unit); no rows, ids or text.
    assert {tuple(sorted(f)) for f in facts} == {("kind", "numbers", "subject")}
    assert facts[0]["numbers"][0] == {"key": "before", "value": "45 %", "unit": "percent"}
    sent = request["body"]["messages"][1]["content"]
    assert "d1" not in sent and "Chase" not in sent and "recipe" not in sent


def test_an_invented_number_is_rejected(seeded: Warehouse, fake_llm: FakeLLM) -> None:
    duck = seeded
    _written(duck)
    fake_llm.answer = "Gross margin fell 7 points to 38 %; overdue receivables are 28,450.01 GBP."
    row = narrate(duck, CID, _config(fake_llm))
    assert row is not None and row["status"] == "rejected"
    stored = duck.read(INSIGHT_NARRATIVES, company_id=CID).row(0, named=True)
    assert stored["narrative"] is None
    assert stored["reason"] == "numbers not among the facts: 7"
    assert KEY not in json.dumps(stored, default=str)


def test_unreachable_endpoint_is_a_failure_without_the_key(seeded: Warehouse) -> None:
    duck = seeded
    _written(duck)
    row = narrate(duck, CID, LLMConfig("http://127.0.0.1:9/v1", "m", KEY, timeout=2))
    assert row is not None and row["status"] == "failed" and KEY not in row["reason"]


def test_unbacked_numbers_ignore_names() -> None:
    payload = [
        {
            "kind": "collections",
            "subject": "receivables",
            "numbers": [
                {"key": "customer_1", "value": "Studio 54 Ltd", "unit": "text"},
                {"key": "total", "value": "8,800.00 GBP", "unit": "money"},
            ],
        }
    ]
    assert unbacked_numbers("Studio 54 Ltd owes 8,800.00 GBP.", payload) == []
    assert unbacked_numbers("Studio 54 Ltd owes 8,800 GBP.", payload) == ["8,800"]


def test_nothing_verified_nothing_sent(seeded: Warehouse, fake_llm: FakeLLM) -> None:
    duck = seeded
    _written(duck)
    frame = duck.read(INSIGHT_NARRATIVES, company_id=CID)
    assert frame.height == 0
    from finpipe.warehouse.tables.analytics_insights import INSIGHTS

    stored = duck.read(INSIGHTS, company_id=CID).with_columns(verified=pl.lit(False))
    duck.replace_partition(INSIGHTS, CID, stored)
    assert narrate(duck, CID, _config(fake_llm)) is None
    assert fake_llm.requests == []
