"""Lists: ``any_element`` (some element of a list attribute satisfies a condition)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._base import COLLECTIONS, OperandError, ValuePredicate

__all__ = ["any_element"]


def any_element(operand: Any, make: Callable[[str, Any], ValuePredicate]) -> ValuePredicate:
    """``any_element: cond``: some element of a list attribute satisfies ``cond``.

    ``cond`` is written as after an attribute name: a value (equality), a list (membership) or
    an operator mapping (``{starts_with: adm}``). A scalar attribute counts as a one-element list;
    an absent one (or an empty list) never matches.
    """
    if isinstance(operand, dict):
        if not operand:
            raise OperandError("empty operator mapping")
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
    collections = COLLECTIONS

    def pred(v: Any) -> bool:
        if isinstance(v, collections):
            for item in v:  # noqa: SIM110 - a plain loop is faster than any() over a generator
                if check(item):
                    return True
            return False
        return v is not None and check(v)

    return pred
