"""The resolver shapes a flag compiles to: its rules walked in order, and its prerequisites.

Rules and splits are small slotted objects whose bound ``resolve`` is the callable: as fast to
call as a closure, a third of its memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._generated import generate
from ..document.schema import FlagDefinition
from ..evaluation import CODE_DEFAULT, Reason
from .compiled import Resolver
from .conditions import Fused, Predicate, fused_arguments, fused_parameters, fused_test
from .splits import FlagdSplit, Resolution, SchemeSplit, Split

__all__ = [
    "NOT_SERVING",
    "RESOLVER_SPLITS",
    "OneRule",
    "OneSplitRule",
    "Rules",
    "Step",
    "Want",
    "fused_rule",
    "gated",
    "prerequisite_holds",
    "requirements",
]

Step = tuple[Predicate | None, Resolution | None, Split | None]
"""A rule: its condition (``None``: everyone), and the fixed resolution or the split it serves."""
RESOLVER_SPLITS = (FlagdSplit, SchemeSplit)
"""Splits whose ``resolve`` also takes the table, so it can serve as a flag's resolver."""


class Rules:
    """A flag's rules, walked in order: the first whose condition holds serves its fixed
    resolution or its split; none: ``no_match``."""

    __slots__ = ("no_match", "steps")

    def __init__(self, steps: tuple[Step, ...], no_match: Resolution) -> None:
        self.steps = steps
        self.no_match = no_match

    def resolve(self, ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
        """The resolution for ``ctx``."""
        for pred, fixed, split in self.steps:
            if pred is None or pred(ctx):
                if split is None:
                    return fixed  # type: ignore[return-value]  # fixed is set when split is None
                return split(ctx)
        return self.no_match


# OneRule and OneSplitRule are Rules specialised by hand for the most common flags (one
# conditional rule): same shape, no loop and no tuple unpacking, ~80 ns less per evaluation.
# A deliberate specialisation; keep their semantics equal to Rules.resolve.


class OneRule:
    """A flag with one conditional rule serving a fixed resolution (no loop to walk)."""

    __slots__ = ("fixed", "no_match", "pred")

    def __init__(self, pred: Predicate, fixed: Resolution, no_match: Resolution) -> None:
        self.pred = pred
        self.fixed = fixed
        self.no_match = no_match

    def resolve(self, ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
        """The resolution for ``ctx``."""
        return self.fixed if self.pred(ctx) else self.no_match


class OneSplitRule:
    """A flag with one conditional rule serving a split (no loop to walk)."""

    __slots__ = ("no_match", "pred", "split")

    def __init__(self, pred: Predicate, split: Split, no_match: Resolution) -> None:
        self.pred = pred
        self.split = split
        self.no_match = no_match

    def resolve(self, ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
        """The resolution for ``ctx``."""
        return self.split(ctx) if self.pred(ctx) else self.no_match


# A flag with one rule whose condition is plain-attribute tests (flagkit._engine.conditions
# fuses them) gets a generated rule class with the test inlined in ``resolve``: the most
# common targeted flag (``when: {country: US, plan: pro}``) costs one Python call, not two.
# One class per shape (combinator, operators, fixed or split), generated from ONE template
# (flagkit._generated); names, operands and what is served are slots, never source text.
# Its semantics are OneRule's and OneSplitRule's with ``pred`` written out.
_RULE_TEMPLATE = """\
class {name}:
    __slots__ = ("served", "no_match", {slots})

    def __init__(self, served, no_match, {params}):
        self.served = served
        self.no_match = no_match
        {assign} = {params}

    def resolve(self, ctx, table):
        return {serve} if {test} else self.no_match
"""
_rule_classes: dict[tuple[str, tuple[str, ...], bool], type] = {}


def fused_rule(fused: Fused, served: Resolution | Split, no_match: Resolution, *, split: bool) -> Resolver:
    """One rule testing ``fused`` (see :func:`flagkit._engine.conditions.fused_terms`) that
    serves the fixed resolution ``served``, or calls the split ``served`` (``split=True``)."""
    how, terms = fused
    ops = tuple(op for _, op, _ in terms)
    cls = _rule_classes.get((how, ops, split))
    if cls is None:
        shape = "_".join(("eq" if op == "==" else "is") for op in ops)
        name = f"{'Split' if split else 'Fixed'}Rule_{how}_{shape}"
        names = fused_parameters(len(ops))
        source = _RULE_TEMPLATE.format(
            name=name,
            slots=", ".join(f'"{n}"' for n in names),
            params=", ".join(names),
            assign=", ".join(f"self.{n}" for n in names),
            serve="self.served(ctx)" if split else "self.served",
            test=fused_test(how, ops, "self."),
        )
        cls = _rule_classes[(how, ops, split)] = generate(source, f"<flagkit generated {name}>")[name]
        cls.__module__ = __name__
    rule = cls(served, no_match, *fused_arguments(terms))
    resolve: Resolver = rule.resolve
    return resolve


Want = bool | frozenset[str]
"""What a prerequisite asks of its flag: on (True), off (False), or one of these variants."""
NOT_SERVING = frozenset({Reason.DISABLED, Reason.PREREQUISITE_FAILED, Reason.GUARD_TRIPPED})
"""Reasons of a flag that is switched off (killed, its own prerequisites failed, or its guard
tripped in this process): it is off for the flags that require it, whatever value it serves."""


def prerequisite_holds(resolution: Resolution, want: Want) -> bool:
    """Whether a prerequisite flag's resolution satisfies ``want``.

    As in LaunchDarkly and Unleash, a flag that is switched off (:data:`NOT_SERVING`) is off:
    it satisfies "off" and nothing else, even when its default is truthy. Otherwise on means a
    truthy value (not the caller's default), off its negation, and a variant requirement the
    variant served.
    """
    serving = resolution[2] not in NOT_SERVING
    if want is True:
        return serving and bool(resolution[0]) and resolution[0] is not CODE_DEFAULT
    if want is False:
        return not serving or not resolution[0] or resolution[0] is CODE_DEFAULT
    return serving and resolution[1] in want


def requirements(flag: FlagDefinition) -> list[tuple[str, Want]]:
    """``requires`` as ``(key, want)`` pairs, in order (malformed entries are skipped; the
    compiler reports them)."""
    out: list[tuple[str, Want]] = []
    for item in flag.requires:
        if isinstance(item, str):
            out.append((item, True))
            continue
        if len(item) != 1:
            continue
        ((key, want),) = item.items()
        if isinstance(want, bool):
            out.append((key, want))
        elif isinstance(want, str):
            out.append((key, frozenset((want,))))
        elif want:
            out.append((key, frozenset(want)))
    return out


def gated(needs: tuple[tuple[str, Want], ...], failed: Resolution, walk: Resolver) -> Resolver:
    """``walk`` behind the prerequisites ``needs``: ``failed`` unless every one holds."""
    if all(want is True for _, want in needs):  # the common form: plain keys, "is on"
        keys = tuple(key for key, _ in needs)

        def gated_on(ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
            for key in keys:
                resolve = table.get(key)
                if resolve is None:
                    return failed
                parent = resolve(ctx, table)
                # prerequisite_holds(parent, True), inlined: a deliberate specialisation of the
                # common form (one Python call less per prerequisite on the hot path).
                if not parent[0] or parent[2] in NOT_SERVING or parent[0] is CODE_DEFAULT:
                    return failed
            return walk(ctx, table)

        return gated_on

    def gated_by_variant(ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
        for key, want in needs:
            resolve = table.get(key)
            if resolve is None or not prerequisite_holds(resolve(ctx, table), want):
                return failed
        return walk(ctx, table)

    return gated_by_variant
