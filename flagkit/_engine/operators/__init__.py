"""Condition operators: each turns an operand into a predicate over one attribute value.

Everything here runs at load time except the returned closures, which are the hot path:
they take the attribute value (``None`` when the attribute is absent) and return a bool.
They never raise for any value a context can hold; the client still guards every call.

Type rules (documented in docs/format.md): no coercion between strings and numbers;
booleans are never numbers; an absent (or ``None``) attribute fails every operator except
``exists: false``.

One module per concept; this one holds only the registry and :func:`make_operator`:

=================  ==========================================================================
``comparison``     ``eq``, ``ne``, ``in``, ``not_in``, ``gt``/``gte``/``lt``/``lte``, ``exists``;
                   numeric strings (``options.numeric_strings``)
``strings``        ``contains``, ``starts_with``, ``ends_with``, ``matches`` (safe regexes)
``semver``         ``semver_eq``/``gt``/``gte``/``lt``/``lte``
``times``          ``before``, ``at_or_before``, ``after``, ``at_or_after`` (RFC 3339, ``now``)
``network``        ``in_cidr``
``lists``          ``any_element``
``_base``          the predicate type, :class:`OperandError`, what the others share
=================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import did_you_mean
from . import comparison, semver, strings
from ._base import OperandError, ValuePredicate
from .lists import any_element
from .network import in_cidr
from .semver import parse_semver
from .strings import MAX_MATCH_LENGTH
from .times import TEMPORAL, parse_rfc3339, temporal, to_epoch

__all__ = [
    "MAX_MATCH_LENGTH",
    "OperandError",
    "ValuePredicate",
    "make_operator",
    "parse_rfc3339",
    "parse_semver",
    "to_epoch",
]

_BUILDERS: dict[str, Callable[[Any], ValuePredicate]] = {
    **comparison.BUILDERS,
    **strings.BUILDERS,
    **semver.BUILDERS,
    "in_cidr": in_cidr,
}
"""Operators built from their operand alone (time operators also need the clock, and
``any_element`` needs :func:`make_operator` for its inner condition)."""
_KNOWN = ", ".join(sorted({*_BUILDERS, *TEMPORAL, "any_element"}))


def make_operator(
    name: str, operand: Any, *, numeric_strings: bool = False, clock: Callable[[], float] | None = None
) -> ValuePredicate:
    """Build the predicate for ``{name: operand}``.

    Args:
        name: The operator.
        operand: Its operand as written.
        numeric_strings: Compare strings that are numbers (``"42"``) as numbers in the numeric
            operators (a document's ``options.numeric_strings``).
        clock: Seconds since the epoch, read at evaluation by a time operator whose operand is
            ``now`` (required for those: the engine reads no clock it is not given).

    Raises:
        OperandError: Unknown operator or invalid operand.
    """
    if name in TEMPORAL:
        return temporal(name, clock)(operand)
    if name == "any_element":
        return any_element(
            operand, lambda op, arg: make_operator(op, arg, numeric_strings=numeric_strings, clock=clock)
        )
    builder = _BUILDERS.get(name)
    if builder is None:
        hint = did_you_mean(name, [*_BUILDERS, *TEMPORAL, "any_element"])
        raise OperandError(f"unknown operator {name!r}{hint} (known: {_KNOWN})")
    check = builder(operand)
    if numeric_strings:
        return comparison.numeric_strings(name, operand, check)
    return check
