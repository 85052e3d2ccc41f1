"""Percentage splits: weights as integer edges, and the resolvers that pick a context's arm.

A split is a small slotted object whose bound ``resolve`` method is what rules call: per
flag that costs ~190 bytes where a closure over the same state cost ~530, and a bound
method call is as fast as a closure call. The edge tables (``(edge, resolution)`` pairs)
are shared between the flags of a document that split the same way (see the compiler).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import mmh3

from ..bucketing import _TEXT_HEADS, encode_pair_prefix
from ..evaluation import Reason
from . import schemes
from .conditions import Issues, Path, attribute_getter
from .ramps import Clock

__all__ = [
    "DEFAULT_BUCKET_ATTRIBUTES",
    "TOTAL_WEIGHT",
    "WEIGHT_SCALE",
    "Edges",
    "FlagdSplit",
    "Resolution",
    "SchemeSplit",
    "Split",
    "cumulative",
    "default_bucket_value",
    "edge_table",
    "flagd_split",
    "hashed_edges",
    "weights",
]

Resolution = tuple[Any, str | None, Reason, str | None]
"""``(value, variant, reason, rule)``: what a resolver returns."""
Split = Callable[[Mapping[str, Any]], Resolution]
"""A split: context → the resolution of the arm it falls in (also callable as a resolver)."""
Edges = tuple[tuple[tuple[int, Resolution], ...], Resolution]
"""``((cumulative edge, resolution) for each arm with a weight but the last, in order), the
last such arm's resolution)``: every point falls below the last edge, so it needs no test."""

WEIGHT_SCALE = 1000
"""Weights are percentages with 0.001 % resolution: stored as integers out of 100,000."""
TOTAL_WEIGHT = 100 * WEIGHT_SCALE
DEFAULT_BUCKET_ATTRIBUTES = ("targeting_key", "user_id")


def weights(serve: dict[str, float], path: Path, issues: Issues) -> list[tuple[str, int]] | None:
    """``serve``'s percentages as integer units, or ``None`` (with the issues added)."""
    out: list[tuple[str, int]] = []
    ok = True
    for name, weight in serve.items():
        if not 0 <= weight <= 100:  # also inf and nan (the readers refuse them; Python data may not)
            issues.add(f"weight of {name!r} is not a percentage from 0 to 100", (*path, name))
            ok = False
            continue
        units = round(weight * WEIGHT_SCALE)
        if abs(units - weight * WEIGHT_SCALE) > 1e-6:
            issues.add(f"weight {weight} of {name!r} is finer than 0.001 %", (*path, name))
            ok = False
        out.append((name, units))
    total = sum(units for _, units in out)
    if ok and total != TOTAL_WEIGHT:
        issues.add(f"split weights sum to {total / WEIGHT_SCALE:g}, not 100", path)
        ok = False
    return out if ok else None


def cumulative(arms: list[tuple[int, Resolution]]) -> list[int]:
    """The running totals of the arms' units."""
    out, running = [], 0
    for units, _ in arms:
        running += units
        out.append(running)
    return out


def edge_table(edges: list[int], arms: list[tuple[int, Resolution]]) -> Edges:
    """The :data:`Edges` of the arms with a weight (an arm of 0 % is never served)."""
    table = tuple((edge, resolution) for edge, (units, resolution) in zip(edges, arms, strict=True) if units)
    return table[:-1], table[-1][1]


def hashed_edges(edges: Edges) -> Edges:
    """``edges`` (points out of :data:`TOTAL_WEIGHT`) as bounds on the 32-bit hash itself.

    A point is ``(h * TOTAL_WEIGHT) >> 32``, and for integers ``point < edge`` exactly when
    ``h < ceil(edge * 2**32 / TOTAL_WEIGHT)``: the same arm, one multiply and shift less.
    """
    inner, last = edges
    return tuple((-((-edge << 32) // TOTAL_WEIGHT), resolution) for edge, resolution in inner), last


def default_bucket_value(ctx: Mapping[str, Any]) -> Any:
    """The bucketing value when ``bucket_by`` is not given: ``targeting_key``, else ``user_id``."""
    first, second = DEFAULT_BUCKET_ATTRIBUTES
    value = ctx.get(first)
    return ctx.get(second) if value is None else value


# The edge walk (``for edge, resolution in edges: if point < edge: return resolution``) is
# written out in each split's hot method rather than called: a helper call costs ~50 ns per
# evaluation. A deliberate specialisation; flagkit.bucketing.pick is the reference form.


class FlagdSplit:
    """The default scheme (flagd ``fractional``) on the default attributes or a plain one.

    The common case is inlined: a string value under 256 UTF-8 bytes. Other values take the
    general path, :func:`flagkit._engine.schemes.flagd_point` (the same point function). Its
    edges are in hash space (:func:`hashed_edges`): the murmur3 hash is compared as it is,
    with no scaling to a point per evaluation.
    """

    __slots__ = ("edges", "fallback", "first", "last", "prefix", "second")

    def __init__(self, prefix: bytes, edges: Edges, fallback: Resolution, first: str, second: str) -> None:
        self.prefix = prefix
        self.edges, self.last = edges
        self.fallback = fallback
        self.first = first
        self.second = second

    def resolve(self, ctx: Mapping[str, Any], table: Mapping[str, Any] | None = None) -> Resolution:
        """The resolution of ``ctx``'s arm (``table`` is unused: a split may be a resolver)."""
        value = ctx.get(self.first)
        if value is None:
            value = ctx.get(self.second)
        if type(value) is not str:
            return self.general(value)
        try:
            raw = value.encode()
        except UnicodeEncodeError:  # lone surrogates: encoded as flagd's CBOR does
            raw = value.encode("utf-8", "surrogatepass")
        try:
            head = _HEADS[len(raw)]
        except IndexError:  # 256 bytes or more: a longer CBOR head
            return self.general(value)
        point = _hash32(self.prefix + head + raw)
        for edge, resolution in self.edges:
            if point < edge:
                return resolution
        return self.last

    def general(self, value: Any) -> Resolution:
        """The arm of any value, by the general point function (unscaled: the hash itself)."""
        point = _flagd_point(self.prefix, _HASH_SPACE, True, value)
        if point is None:
            return self.fallback
        for edge, resolution in self.edges:
            if point < edge:
                return resolution
        return self.last


_hash32 = mmh3.mmh3_32_uintdigest  # = mmh3.hash(data, 0, False), without argument parsing
_HASH_SPACE = 1 << 32
_HEADS = _TEXT_HEADS
_flagd_point = schemes.flagd_point


class SchemeSplit:
    """A split with any point function (another scheme, an explicit input, a dotted attribute)."""

    __slots__ = ("edges", "fallback", "getter", "last", "point")

    def __init__(
        self,
        point: Callable[[Any], int | None],
        getter: Callable[[Mapping[str, Any]], Any],
        edges: Edges,
        fallback: Resolution,
    ) -> None:
        self.point = point
        self.getter = getter
        self.edges, self.last = edges
        self.fallback = fallback

    def resolve(self, ctx: Mapping[str, Any], table: Mapping[str, Any] | None = None) -> Resolution:
        """The resolution of ``ctx``'s arm (``table`` is unused: a split may be a resolver)."""
        bucket = self.point(self.getter(ctx))
        if bucket is None:
            return self.fallback
        for edge, resolution in self.edges:
            if bucket < edge:
                return resolution
        return self.last


def flagd_split(
    salt: str,
    attribute: str | None,
    edges: Edges,
    hashed: Edges,
    fallback: Resolution,
    clock: Clock | None = None,
) -> Split:
    """The default scheme's split salted with ``salt``, bucketing by ``attribute`` (``None``:
    the default attributes); ``hashed`` is :func:`hashed_edges` of ``edges`` (the caller
    shares both between equal splits); ``clock`` is what the attribute ``now`` reads."""
    if attribute is None:
        first, second = DEFAULT_BUCKET_ATTRIBUTES
    elif "." not in attribute and attribute != "now":
        first, second = attribute, attribute
    else:
        point = schemes.point_function(schemes.Scheme("flagd", TOTAL_WEIGHT, salt))
        return SchemeSplit(point, attribute_getter(attribute, clock), edges, fallback).resolve
    return FlagdSplit(encode_pair_prefix(salt), hashed, fallback, first, second).resolve
