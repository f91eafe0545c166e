"""Which statement format a dropped file is in, and its statements read with the right parser.

Detection looks at the content, never only at the file name (banks name exports ``.txt``,
``.sta``, ``.940``, ``.xml``, ``.qfx`` ... inconsistently):

* **camt.053**: an XML document with a ``BkToCstmrStmt`` element (any 001.xx version);
* **OFX / QFX**: an ``OFXHEADER`` line (1.x SGML) or an ``<OFX>`` element (2.x XML);
* **MT940 / MT942**: SWIFT tag lines such as ``:20:``, ``:25:``, ``:60F:``, ``:61:`` (with or
  without the ``{1:..}{4:`` envelope);
* **CSV**: a registered :class:`~finpipe.connectors.statements.csv_profiles.CsvProfile` whose
  header signature the file carries (``csv:<profile>``).

Anything else raises :class:`StatementParseError` saying which formats are understood and how
to teach finpipe a new CSV layout.
"""

from __future__ import annotations

import re

from finpipe.connectors.statements.camt053 import parse_camt053
from finpipe.connectors.statements.csv_profiles import BUILTIN_PROFILES, detect_profile, parse_csv
from finpipe.connectors.statements.model import Statement, StatementParseError
from finpipe.connectors.statements.mt940 import parse_mt940
from finpipe.connectors.statements.ofx import parse_ofx

FORMATS = ("camt053", "ofx", "mt940", "csv:<profile>")

# Enough of the head to see an XML root, an OFX header or the first SWIFT tags, even behind
# a long preamble (12 blank lines in one corpus OFX, bank header lines before MT940 tags).
_SNIFF_BYTES = 64 * 1024
_MT940_TAG = re.compile(r"(?m)^[\x00-\x1f ]*:(20|25|28C?|60[FM]|61|62[FM]|86):")
_CAMT_OTHER = re.compile(r"<(?:\w+:)?(BkToCstmrAcctRpt|BkToCstmrDbtCdtNtfctn)\b")


def _head(data: bytes) -> str:
    # latin-1 never fails, and every marker we look for is ASCII.
    return data[:_SNIFF_BYTES].decode("latin-1").lstrip("\ufeff\xef\xbb\xbf\x00\r\n\t ")


def detect_format(name: str, data: bytes) -> str:
    """``camt053`` | ``ofx`` | ``mt940`` | ``csv:<profile name>`` for the file's content;
    raises StatementParseError (field ``format``) when it is none of them."""
    head = _head(data)
    upper = head.upper()
    if re.search(r"<(?:\w+:)?BkToCstmrStmt\b", head):
        return "camt053"
    if "OFXHEADER" in upper or "<OFX>" in upper or "<OFX " in upper:
        return "ofx"
    if _CAMT_OTHER.search(head):
        raise StatementParseError(
            name,
            "Document",
            "format",
            "a camt.052 / camt.054 report is not a statement: download the end-of-day "
            "statement (camt.053) instead",
        )
    if _MT940_TAG.search(head):
        return "mt940"
    if not data.strip():
        raise StatementParseError(name, "file", "format", "the file is empty")
    profile = detect_profile(data, name)
    if profile is not None:
        return f"csv:{profile.name}"
    if head.startswith("<"):
        raise StatementParseError(
            name,
            "file",
            "format",
            "an XML document that is neither camt.053 (BkToCstmrStmt) nor OFX: export the "
            "statement as camt.053, OFX/QFX, MT940 or CSV",
        )
    raise StatementParseError(
        name,
        "line 1",
        "format",
        "not a camt.053, OFX/QFX or MT940 file and no CSV profile matches its header: "
        "export it in one of those formats, or register a CsvProfile for this bank's CSV "
        "(finpipe.connectors.statements.register_profile)",
    )


def parse_as(fmt: str, name: str, data: bytes) -> list[Statement]:
    """The statements of ``data`` read as ``fmt`` (a value :func:`detect_format` returns)."""
    if fmt == "camt053":
        return parse_camt053(data, name)
    if fmt == "ofx":
        return parse_ofx(data, name)
    if fmt == "mt940":
        return parse_mt940(data, name)
    if fmt.startswith("csv:") and fmt[4:] in BUILTIN_PROFILES:
        return parse_csv(data, name, BUILTIN_PROFILES[fmt[4:]])
    raise StatementParseError(name, "file", "format", f"unknown statement format {fmt!r}")


def parse_file(name: str, data: bytes) -> list[Statement]:
    """Every statement in the file, whatever its format (see :func:`detect_format`)."""
    return parse_as(detect_format(name, data), name, data)
