"""Operators added for parity with flagd, Unleash and LaunchDarkly (see docs/format.md).

* ``in_cidr``: the attribute is an IPv4/IPv6 address inside one of the networks (parsed at load).
* ``before`` / ``at_or_before`` / ``after`` / ``at_or_after``: strict and inclusive time
  comparisons. Attribute strings must be RFC 3339 (:func:`parse_rfc3339`); the operand may be
  the word ``now``, the evaluation time.
* ``any_element``: the attribute is a list and some element satisfies the inner condition.
* Numeric strings (``"42"``) for the numeric operators, when a document opts in.

Like :mod:`flagkit._engine.operators`, everything here runs at load time except the returned closures,
which never raise for any value a context can hold.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import math
import re
import socket
from collections.abc import Callable
from typing import Any

__all__ = [
    "NUMERIC_OPERATORS",
    "OperandProblem",
    "any_element",
    "in_cidr",
    "numeric_strings",
    "parse_number",
    "parse_rfc3339",
    "temporal",
    "to_epoch",
]

ValuePredicate = Callable[[Any], bool]
Builder = Callable[[Any], ValuePredicate]


class OperandProblem(ValueError):
    """Raised for a bad operand; :mod:`flagkit._engine.operators` re-raises it as its OperandError."""


# --- RFC 3339 -------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|([+-])(\d{2}):(\d{2})))?\Z",
    re.ASCII,
)


@functools.lru_cache(maxsize=4096)
def parse_rfc3339(text: str) -> float | None:
    """Seconds since the epoch for an RFC 3339 ``date-time`` or ``full-date``; else ``None``.

    Accepted: ``2026-01-31T12:00:00Z``, ``2026-01-31t12:00:00.5+02:00`` (``T``/``Z`` in either
    case, 1 to 9 fraction digits, a leap second ``:60``) and a bare ``full-date`` ``2026-01-31``
    (midnight UTC). Refused: a missing offset (``2026-01-31T12:00:00``), a missing seconds
    field, a space or any other separator, week or ordinal dates, and out-of-range fields.
    Results are cached (the text is at most 40 characters, so the cache stays small).
    """
    if len(text) > 40:
        return None
    m = _RFC3339.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone, sign, off_h, off_m = m.groups()
    y, mo, d = int(year), int(month), int(day)
    if not 1 <= mo <= 12 or not 1 <= d <= _days_in_month(y, mo):
        return None
    midnight = _days_from_civil(y, mo, d) * 86400
    if hour is None:
        return float(midnight)
    h, mi, s = int(hour), int(minute), int(second)
    if h > 23 or mi > 59 or s > 60:
        return None
    offset = 0
    if zone not in ("Z", "z"):
        oh, om = int(off_h), int(off_m)
        if oh > 23 or om > 59:
            return None
        offset = (oh * 3600 + om * 60) * (1 if sign == "+" else -1)
    fraction = int(frac) / 10 ** len(frac) if frac else 0.0
    return midnight + h * 3600 + mi * 60 + s - offset + fraction


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (no datetime object needed)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def to_epoch(value: Any) -> float | None:
    """Seconds since the epoch for a datetime, date, RFC 3339 string or number; else ``None``.

    Naive datetimes and bare dates are taken as UTC; strings must be RFC 3339
    (:func:`parse_rfc3339`); numbers are epoch seconds (booleans are not numbers).
    """
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is int:
        return float(value) if -(2**53) <= value <= 2**53 else None
    if type(value) is str:
        return parse_rfc3339(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        stamp: float = value.timestamp()
        return stamp
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    return None


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "before": lambda e, at: e < at,
    "at_or_before": lambda e, at: e <= at,
    "after": lambda e, at: e > at,
    "at_or_after": lambda e, at: e >= at,
}


def temporal(name: str, clock: Callable[[], float] | None) -> Builder:
    """The builder of the time comparison ``name`` (``before``, ``after``, ``at_or_*``).

    ``clock`` is read at evaluation time when the operand is ``now`` (which needs one).
    """
    strict_before = name == "before"
    inclusive_before = name == "at_or_before"
    strict_after = name == "after"

    def build(operand: Any) -> ValuePredicate:
        if operand == "now":
            if clock is None:
                raise ValueError("`now` needs a clock: pass the one evaluations read (flagkit.flagset.now)")
            # Written out per operator: one closure, no extra call on the hot path.
            if strict_before:
                return lambda v: (e := to_epoch(v)) is not None and e < clock()
            if inclusive_before:
                return lambda v: (e := to_epoch(v)) is not None and e <= clock()
            if strict_after:
                return lambda v: (e := to_epoch(v)) is not None and e > clock()
            return lambda v: (e := to_epoch(v)) is not None and e >= clock()
        at = to_epoch(operand) if isinstance(operand, str | dt.date) else None
        if at is None:
            raise OperandProblem(
                f"{operand!r} is not an RFC 3339 date or date-time (e.g. 2026-01-31 or "
                "2026-01-31T12:00:00Z; an offset is required) nor `now`"
            )
        if strict_before:
            return lambda v: (e := to_epoch(v)) is not None and e < at
        if inclusive_before:
            return lambda v: (e := to_epoch(v)) is not None and e <= at
        if strict_after:
            return lambda v: (e := to_epoch(v)) is not None and e > at
        return lambda v: (e := to_epoch(v)) is not None and e >= at

    return build


# --- networks -------------------------------------------------------------------------------

_MAX_ADDRESS = 64
_inet_pton = socket.inet_pton
_AF_INET = socket.AF_INET


def in_cidr(operand: Any) -> ValuePredicate:
    """``in_cidr: "10.0.0.0/8"`` or a list: the attribute is an address inside any network.

    A bare address (``"127.0.0.1"``) is a one-address network. An address matches the
    networks of its own family; an IPv4-mapped IPv6 address (``::ffff:10.1.2.3``, what a
    dual-stack socket reports for an IPv4 client) is also its IPv4 address, so it matches the
    IPv6 networks containing it (``::/0``, ``::ffff:0:0/96``) and the IPv4 networks containing
    ``10.1.2.3``. A plain IPv4 address does not match IPv6 networks. Networks are ranges of
    integers, so a check is one parse of the attribute plus comparisons.
    """
    items = operand if isinstance(operand, list) else [operand]
    if not items or not all(isinstance(x, str) for x in items):
        raise OperandProblem("expected a network (`10.0.0.0/8`, `2001:db8::/32`) or a list of them")
    ranges: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
    for item in items:
        try:
            net = ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            raise OperandProblem(f"{item!r} is not an IP address or CIDR network") from None
        ranges[net.version].append((int(net.network_address), int(net.broadcast_address)))
    v4, v6 = tuple(ranges[4]), tuple(ranges[6])
    address = ipaddress.ip_address
    ipv4 = _ipv4

    def pred(v: Any) -> bool:
        if type(v) is not str or len(v) > _MAX_ADDRESS:
            return False
        if ":" not in v:  # the common case, without building an ipaddress object
            n = ipv4(v)
            return n is not None and any(lo <= n <= hi for lo, hi in v4)
        try:
            addr = address(v)
        except ValueError:
            return False
        n = int(addr)  # an IPv6 address: IPv4 text has no ":"
        if any(lo <= n <= hi for lo, hi in v6):
            return True
        mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
        if mapped is None:
            return False
        n = int(mapped)
        return any(lo <= n <= hi for lo, hi in v4)

    return pred


def _ipv4(text: str) -> int | None:
    """A dotted-quad IPv4 address as an integer (four decimal parts of 0-255 without leading
    zeros, as ``ipaddress`` accepts; a test holds the two in agreement); ``None`` otherwise."""
    try:
        return int.from_bytes(_inet_pton(_AF_INET, text), "big")
    except (OSError, ValueError):  # ValueError: NUL or non-ASCII text
        return None


# --- lists ----------------------------------------------------------------------------------

_COLLECTIONS = (list, tuple, set, frozenset)


def any_element(operand: Any, make: Callable[[str, Any], ValuePredicate]) -> ValuePredicate:
    """``any_element: cond``: some element of a list attribute satisfies ``cond``.

    ``cond`` is written as after an attribute name: a value (equality), a list (membership) or
    an operator mapping (``{starts_with: adm}``). A scalar attribute counts as a one-element list;
    an absent one (or an empty list) never matches.
    """
    if isinstance(operand, dict):
        if not operand:
            raise OperandProblem("empty operator mapping")
        checks = [make(op, arg) for op, arg in operand.items()]
        if len(checks) == 1:
            check = checks[0]
        else:
            parts = tuple(checks)

            def check(x: Any) -> bool:
                return all(part(x) for part in parts)

    elif isinstance(operand, list):
        check = make("in", operand)
    else:
        check = make("eq", operand)
    collections = _COLLECTIONS

    def pred(v: Any) -> bool:
        if isinstance(v, collections):
            for item in v:  # noqa: SIM110 - a plain loop is faster than any() over a generator
                if check(item):
                    return True
            return False
        return v is not None and check(v)

    return pred


# --- numeric strings ------------------------------------------------------------------------

NUMERIC_OPERATORS = frozenset({"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte"})
"""Operators that read numeric strings as numbers when a document sets ``numeric_strings``."""

_NUMBER = re.compile(r"[+-]?(?:\d+(\.\d*)?|(\.\d+))([eE][+-]?\d+)?\Z", re.ASCII)


def parse_number(text: str) -> int | float | None:
    """``"42"`` → 42, ``"-1.5e3"`` → -1500.0; ``None`` for anything else (whitespace, ``nan``,
    ``inf``, hex, trailing text, more than 64 characters, or a value too large for a float)."""
    if len(text) > 64:
        return None
    m = _NUMBER.match(text)
    if m is None:
        return None
    if m.group(1) is None and m.group(2) is None and m.group(3) is None:
        return int(text)
    number = float(text)
    return number if math.isfinite(number) else None


def _has_number(operand: Any) -> bool:
    items = operand if isinstance(operand, list) else [operand]
    return any(type(x) is int or type(x) is float for x in items)


def numeric_strings(name: str, operand: Any, check: ValuePredicate) -> ValuePredicate:
    """Wrap ``check`` so a string that is a number is compared as that number.

    Only numeric operands are affected: ``{eq: "42"}`` still compares strings.
    """
    if name not in NUMERIC_OPERATORS or not _has_number(operand):
        return check
    parse = parse_number

    def pred(v: Any) -> bool:
        if type(v) is str:
            number = parse(v)
            return check(v if number is None else number)
        return check(v)

    return pred
