"""Sharing equal pieces between the flags of one document while it compiles.

Flag files repeat themselves: the same segment checks and ``country: [US, CA]`` conditions,
the same on/off results, variant sets and split tables in hundreds of flags. The compiler
builds each distinct piece once per document, keyed by what it was built from, and gives
every flag that needs it the same immutable object. Keys are type-tagged (:func:`canonical`),
so ``1``, ``1.0`` and ``true``, or ``0.0`` and ``-0.0``, never share. The table lives only
while one document compiles.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

__all__ = ["Shared", "canonical"]

_MAX_DEPTH = 64


class _Distinct:
    """A key equal only to itself: for values that are never shared."""

    __slots__ = ()


def canonical(value: Any, depth: int = 0) -> Hashable:
    """A hashable key equal for equal values of the same JSON types (dict order counts).

    Values of other types (Python objects from ``FlagSet.from_dict``), and values nested
    deeper than the document limit, get a key equal to no other.
    """
    kind = type(value)
    if kind is str:
        text: str = value
        return text
    if kind is bool or kind is int or value is None:
        return (kind, value)
    if kind is float:
        return (kind, repr(value))
    if depth < _MAX_DEPTH:
        if kind is dict:
            return (kind, tuple((canonical(k, depth + 1), canonical(v, depth + 1)) for k, v in value.items()))
        if kind is list:
            return (kind, tuple(canonical(v, depth + 1) for v in value))
    return _Distinct()


Shared = dict[Hashable, Any]
"""One document's table of shared pieces: key → the object built first for that key (a plain
dict: the compiler looks it up tens of thousands of times per 10,000 flags)."""
