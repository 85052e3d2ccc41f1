"""String operators: ``contains``, ``starts_with``, ``ends_with`` and ``matches`` (regular
expressions, refused at load when they could take super-linear time, and never run on strings
longer than :data:`MAX_MATCH_LENGTH`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ...document.regex_safety import UnsafePattern, check_regex_safety
from ._base import COLLECTIONS, OperandError, ValuePredicate, is_number

__all__ = ["BUILDERS", "MAX_MATCH_LENGTH"]

MAX_MATCH_LENGTH = 512
"""Strings longer than this never match a ``matches`` condition: with the patterns that
:mod:`flagkit.document.regex_safety` allows (quadratic at worst), one match costs at most ~1 ms."""

try:  # pragma: no cover - optional: linear-time regexes when google-re2 is installed
    import re2 as _re2
except ImportError:  # pragma: no cover
    _re2 = None


def _str_operands(operand: Any) -> tuple[str, ...]:
    items = operand if isinstance(operand, list) else [operand]
    if not items or not all(isinstance(x, str) for x in items):
        raise OperandError("expected a string or a list of strings")
    return tuple(items)


def _contains(operand: Any) -> ValuePredicate:
    if isinstance(operand, str):

        def pred(v: Any) -> bool:
            if type(v) is str:
                return operand in v
            if isinstance(v, COLLECTIONS):
                return operand in v
            return False

        return pred
    if isinstance(operand, bool) or is_number(operand):
        return lambda v: (
            isinstance(v, COLLECTIONS) and any(type(x) is type(operand) and x == operand for x in v)
        )
    raise OperandError("expected a string, number or boolean")


def _starts_with(operand: Any) -> ValuePredicate:
    prefixes = _str_operands(operand)
    return lambda v: type(v) is str and v.startswith(prefixes)


def _ends_with(operand: Any) -> ValuePredicate:
    suffixes = _str_operands(operand)
    return lambda v: type(v) is str and v.endswith(suffixes)


def _matches(operand: Any) -> ValuePredicate:
    if not isinstance(operand, str):
        raise OperandError("expected a regular expression string")
    if _re2 is not None:  # pragma: no cover - depends on the optional google-re2
        try:
            search = _re2.compile(operand).search
        except Exception as exc:
            raise OperandError(f"invalid regular expression: {exc}") from None
    else:
        try:
            check_regex_safety(operand)
        except UnsafePattern as exc:
            raise OperandError(str(exc)) from None
        search = re.compile(operand).search
    limit = MAX_MATCH_LENGTH
    return lambda v: type(v) is str and len(v) <= limit and search(v) is not None


BUILDERS: dict[str, Callable[[Any], ValuePredicate]] = {
    "contains": _contains,
    "starts_with": _starts_with,
    "ends_with": _ends_with,
    "matches": _matches,
}
