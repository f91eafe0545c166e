"""Keeps secrets out of logs, including the DEBUG logs of the HTTP and OAuth libraries
(requests-oauthlib logs whole token responses; urllib3 logs URLs carrying ``code=``)."""

from __future__ import annotations

import logging
import re

_PATTERNS = (
    # "access_token": "...", 'refresh_token': '...', client_secret=...
    re.compile(
        r"""(?P<k>["']?(?:access_token|refresh_token|id_token|client_secret|code|"""
        r"""password)["']?\s*[:=]\s*["']?)(?P<v>[^"'&\s,}]+)""",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<k>\b(?:Bearer|Basic)\s+)(?P<v>[A-Za-z0-9._~+/=-]+)"),
)
REDACTED = "***"


def redact(text: str) -> str:
    """``text`` with every token, secret, authorization code and credential replaced."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group("k") + REDACTED, text)
    return text


_LIBRARY_PREFIXES = ("requests_oauthlib", "oauthlib", "urllib3", "httpx", "httpcore")
_installed = False


def install() -> None:
    """Redact every log record created by the libraries that see tokens (and their child
    loggers, which a logger filter would miss). Idempotent; wraps the record factory."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if isinstance(record.name, str) and record.name.startswith(_LIBRARY_PREFIXES):
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                return record
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
