"""What every operator module shares: the predicate type and the operand error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["COLLECTIONS", "Builder", "OperandError", "ValuePredicate", "is_number"]

ValuePredicate = Callable[[Any], bool]
"""An operator compiled over its operand: attribute value (``None`` when absent) → bool."""
Builder = Callable[[Any], ValuePredicate]
"""Operand as written → predicate (raises :class:`OperandError`)."""


class OperandError(ValueError):
    """An operand is invalid for its operator (reported as a ConfigError with its path)."""


COLLECTIONS = (list, tuple, set, frozenset)
"""A tuple, not ``list | tuple | ...``: a union in isinstance() is rebuilt on every call."""


def is_number(value: Any) -> bool:
    """An int or float, not a bool (booleans are never numbers here)."""
    return type(value) in (int, float)
