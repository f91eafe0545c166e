"""QBO's query language, as far as a data-sync client uses it.

    SELECT * | COUNT(*) FROM <Entity>
        [WHERE <cond> [AND <cond>]...]
        [ORDERBY <property> [ASC|DESC] [, ...]]
        [STARTPOSITION <n>] [MAXRESULTS <m>]

    <cond> := <property> (= | != | < | > | <= | >= | LIKE) <value>
            | <property> IN (<value>, ...)

Keywords, entity and property names are case-insensitive (``Metadata.LastUpdatedTime`` and
``MetaData.LastUpdatedTime`` are the same); string values too. There is no OR, no
projection and no JOIN, as in QBO. ``MAXRESULTS`` defaults to 100 and may not exceed 1000;
``STARTPOSITION`` is 1-based. ``Id`` only takes ``=`` and ``IN``. Name-list entities answer
only active rows unless the query filters on ``Active``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from finpipe.sandbox.quickbooks.errors import QboFault, invalid_query, query_parse_error

MAX_RESULTS = 1000
DEFAULT_MAX_RESULTS = 100

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<op><=|>=|!=|<>|=|<|>)|(?P<sym>[(),.*])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_KEYWORDS = {"select", "from", "where", "and", "orderby", "startposition", "maxresults"}
_TIME_FIELDS = {"lastupdatedtime", "createtime"}


@dataclass(frozen=True)
class Condition:
    path: tuple[str, ...]  # lower-cased property path
    op: str  # = != < > <= >= like in
    values: tuple[Any, ...]

    @property
    def is_time(self) -> bool:
        return self.path[-1] in _TIME_FIELDS

    @property
    def is_last_updated(self) -> bool:
        return self.path[-1] == "lastupdatedtime"


@dataclass(frozen=True)
class Query:
    entity: str
    count: bool
    conditions: tuple[Condition, ...] = ()
    order: tuple[tuple[tuple[str, ...], bool], ...] = ()  # (path, descending)
    start: int = 1
    max_results: int = DEFAULT_MAX_RESULTS
    explicit_max: bool = field(default=False, compare=False)

    def mentions(self, prop: str) -> bool:
        return any(c.path[-1] == prop.lower() for c in self.conditions)


@dataclass
class _Tokens:
    items: list[tuple[str, str, int]]  # (kind, text, column)
    pos: int = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def next(self, expecting: str) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            end = self.items[-1][2] + len(self.items[-1][1]) if self.items else 1
            raise query_parse_error(
                f'Encountered "<EOF>" at line 1, column {end}.\nWas expecting: {expecting}'
            )
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.pos += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        kind, text, col = self.next(f'"{word}"')
        if kind != "word" or text.lower() != word:
            raise _unexpected(text, col, f'"{word}"')

    def expect_sym(self, sym: str) -> None:
        _kind, text, col = self.next(f'"{sym}"')
        if text != sym:
            raise _unexpected(text, col, f'"{sym}"')


def _unexpected(text: str, col: int, expecting: str) -> QboFault:
    return query_parse_error(
        f'Encountered "{text}" at line 1, column {col}.\nWas expecting: {expecting}'
    )


def _tokenize(statement: str) -> _Tokens:
    items: list[tuple[str, str, int]] = []
    pos = 0
    text = statement.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            col = pos + 1
            raise query_parse_error(
                f'Lexical error at line 1, column {col}.  Encountered: "{text[pos]}"'
            )
        kind = match.lastgroup or "sym"
        items.append((kind, match.group(kind), match.start(kind) + 1))
        pos = match.end()
    return _Tokens(items)


def _value(tokens: _Tokens) -> Any:
    kind, text, col = tokens.next("a value")
    if kind == "str":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if kind == "num":
        return Decimal(text)
    if kind == "word" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind == "word" and text.lower() == "current_date":
        return "CURRENT_DATE"
    raise _unexpected(text, col, "a quoted value, a number, true or false")


def _path(tokens: _Tokens) -> tuple[str, ...]:
    kind, text, col = tokens.next("a property name")
    if kind != "word" or text.lower() in _KEYWORDS:
        raise _unexpected(text, col, "a property name")
    parts = [text.lower()]
    while tokens.peek() is not None and tokens.peek()[1] == ".":  # type: ignore[index]
        tokens.pos += 1
        kind, text, col = tokens.next("a property name")
        if kind != "word":
            raise _unexpected(text, col, "a property name")
        parts.append(text.lower())
    return tuple(parts)


def parse_query(statement: str, entities: Mapping[str, str]) -> Query:
    """Parse ``statement``; ``entities`` maps lower-case names to canonical entity names.
    Raises :class:`QboFault` (4000 parse error, 4001 validation error) like QBO."""
    tokens = _tokenize(statement)
    tokens.expect_keyword("select")
    count = False
    if tokens.keyword("count"):
        tokens.expect_sym("(")
        tokens.expect_sym("*")
        tokens.expect_sym(")")
        count = True
    else:
        tokens.expect_sym("*")
    tokens.expect_keyword("from")
    kind, text, col = tokens.next("an entity name")
    if kind != "word":
        raise _unexpected(text, col, "an entity name")
    entity = entities.get(text.lower())
    if entity is None:
        raise invalid_query(f"invalid context declaration: {text}")
    conditions: list[Condition] = []
    order: list[tuple[tuple[str, ...], bool]] = []
    start, max_results, explicit_max = 1, DEFAULT_MAX_RESULTS, False
    if tokens.keyword("where"):
        while True:
            conditions.append(_condition(tokens))
            if not tokens.keyword("and"):
                break
    while tokens.peek() is not None:
        kind, text, col = tokens.next("ORDERBY, STARTPOSITION or MAXRESULTS")
        word = text.lower()
        if word == "orderby" and not order:
            while True:
                path = _path(tokens)
                desc = False
                if tokens.keyword("desc"):
                    desc = True
                else:
                    tokens.keyword("asc")
                order.append((path, desc))
                if tokens.peek() is None or tokens.peek()[1] != ",":  # type: ignore[index]
                    break
                tokens.pos += 1
        elif word in ("startposition", "maxresults"):
            kind, number, col = tokens.next("a positive integer")
            if kind != "num" or "." in number or int(number) < 1:
                raise invalid_query(f"{text} must be a positive integer, got {number}")
            if word == "startposition":
                start = int(number)
            else:
                max_results, explicit_max = int(number), True
                if max_results > MAX_RESULTS:
                    raise invalid_query(
                        f"value {max_results} is too large. Max allowed value is {MAX_RESULTS}"
                    )
        else:
            raise _unexpected(text, col, '"ORDERBY", "STARTPOSITION", "MAXRESULTS" or <EOF>')
    return Query(
        entity=entity,
        count=count,
        conditions=tuple(conditions),
        order=tuple(order),
        start=start,
        max_results=max_results,
        explicit_max=explicit_max,
    )


def _condition(tokens: _Tokens) -> Condition:
    path = _path(tokens)
    token = tokens.peek()
    if token is None:
        tokens.next("an operator")
        raise AssertionError("unreachable")
    kind, text, col = token
    if kind == "op":
        tokens.pos += 1
        op = "!=" if text == "<>" else text
        values: tuple[Any, ...] = (_value(tokens),)
    elif kind == "word" and text.lower() in ("like", "in"):
        tokens.pos += 1
        op = text.lower()
        if op == "in":
            tokens.expect_sym("(")
            items = [_value(tokens)]
            while tokens.peek() is not None and tokens.peek()[1] == ",":  # type: ignore[index]
                tokens.pos += 1
                items.append(_value(tokens))
            tokens.expect_sym(")")
            values = tuple(items)
        else:
            values = (_value(tokens),)
    else:
        raise _unexpected(text, col, "an operator (=, <, >, <=, >=, !=, LIKE, IN)")
    if path[-1] == "id" and len(path) == 1 and op not in ("=", "in"):
        raise invalid_query(f"Id does not support the operator {op.upper()}; use = or IN")
    return Condition(path=path, op=op, values=values)


# --------------------------------------------------------------------------- evaluation


def resolve(payload: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at a case-insensitive property path (refs compare by their ``value``)."""
    current: Any = payload
    for part in path:
        if not isinstance(current, Mapping):
            return None
        match = None
        for key in current:
            if key.lower() == part:
                match = key
                break
        if match is None:
            return None
        current = current[match]
    if isinstance(current, Mapping) and "value" in current:
        return current["value"]
    return current


def parse_instant(text: str, tz: dt.tzinfo) -> dt.datetime:
    """A QBO query/CDC instant: ISO-8601, date-only allowed; no offset = the realm's zone."""
    value = text.strip()
    try:
        if len(value) == 10:
            parsed = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
        else:
            parsed = dt.datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        raise invalid_query(f"invalid date-time value: {text}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _comparable(record_value: Any, literal: Any, cond: Condition, tz: dt.tzinfo) -> tuple[Any, Any]:
    if cond.is_time and isinstance(literal, str):
        left = dt.datetime.fromisoformat(record_value) if isinstance(record_value, str) else None
        return left, parse_instant(literal, tz)
    if isinstance(literal, bool):
        return record_value, literal
    if isinstance(literal, Decimal) or isinstance(record_value, int | Decimal | float):
        try:
            return Decimal(str(record_value)), Decimal(str(literal))
        except (InvalidOperation, ValueError):
            return str(record_value).lower(), str(literal).lower()
    if literal == "CURRENT_DATE":
        literal = dt.datetime.now(tz).date().isoformat()
    return (None if record_value is None else str(record_value).lower()), str(literal).lower()


def _like(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "^" + ".*".join(re.escape(part) for part in pattern.split("%")) + "$", re.IGNORECASE
    )


def predicate(cond: Condition, tz: dt.tzinfo) -> Callable[[Mapping[str, Any]], bool]:
    """A test of one condition against a payload."""
    like = _like(str(cond.values[0])) if cond.op == "like" else None

    def test(payload: Mapping[str, Any]) -> bool:
        raw = resolve(payload, cond.path)
        if cond.op == "like":
            return raw is not None and like is not None and like.match(str(raw)) is not None
        if cond.op == "in":
            for literal in cond.values:
                left, right = _comparable(raw, literal, cond, tz)
                if left == right:
                    return True
            return False
        left, right = _comparable(raw, cond.values[0], cond, tz)
        if left is None:
            return cond.op == "!="
        try:
            if cond.op == "=":
                return bool(left == right)
            if cond.op == "!=":
                return bool(left != right)
            if cond.op == "<":
                return bool(left < right)
            if cond.op == ">":
                return bool(left > right)
            if cond.op == "<=":
                return bool(left <= right)
            if cond.op == ">=":
                return bool(left >= right)
        except TypeError:
            return False
        return False

    return test


def sort_key(payload: Mapping[str, Any], path: Sequence[str]) -> tuple[int, Any]:
    """Sort key of a property (None sorts first; numbers and instants compare as such)."""
    value = resolve(payload, path)
    if value is None:
        return (0, "")
    if path[-1] in _TIME_FIELDS and isinstance(value, str):
        return (1, dt.datetime.fromisoformat(value).timestamp())
    if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
        return (2, Decimal(str(value)))
    if path[-1] == "id" and isinstance(value, str) and value.isdigit():
        return (2, Decimal(value))
    return (3, str(value).lower())
