"""Dates and times: ``before``, ``at_or_before``, ``after``, ``at_or_after``.

Attribute strings must be RFC 3339 (:func:`parse_rfc3339`); datetimes, dates and epoch numbers
are accepted as they are. The operand may be the word ``now``: the clock passed in, read at
evaluation (the engine reads no clock of its own).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable
from typing import Any

from ._base import Builder, OperandError, ValuePredicate

__all__ = ["TEMPORAL", "parse_rfc3339", "temporal", "to_epoch"]

TEMPORAL = frozenset({"before", "at_or_before", "after", "at_or_after"})

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
            raise OperandError(
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
