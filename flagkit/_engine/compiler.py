"""Validated definitions → compiled flags: plain callables over pre-parsed operands.

This module builds each flag (:class:`_FlagBuilder`: variants, rules, splits, ramps) and the
whole document (:func:`compile_document`). What it builds lives beside it: the compiled flag
and constant flags in :mod:`.compiled`, the resolver shapes (rules, prerequisites) in
:mod:`.rules`, the cross-reference checks of ``requires`` in :mod:`.references`, conditions
in :mod:`.conditions`, splits in :mod:`.splits` and :mod:`.schemes`, ramps in :mod:`.ramps`.

The flags of one document share what is equal between them (:mod:`flagkit._engine.interning`):
resolution tuples, condition predicates, split tables, variant sets, and the resolver itself
of flags with the same rules. A compiled flag keeps its definition only as compact bytes
(:mod:`flagkit.document.definitions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from ..document.definitions import FlagSpec, Packed, pack
from ..document.schema import BucketInput, FlagDefinition, FlagDocument, Ramp, Rule
from ..errors import ConfigIssue, did_you_mean
from ..evaluation import CODE_DEFAULT, CODE_DEFAULT_NAME, Reason
from . import schemes
from .compiled import (
    BOOLEAN_VARIANTS,
    CONTAINERS,
    CompiledFlag,
    Resolver,
    compile_static,
    constant_flag,
    constant_resolver,
    fresh_copies,
    off_variant_name,
    read_only_variants,
    switched_off_variant,
    thawed,
)
from .conditions import (
    MAX_CONDITION_DEPTH,
    ConditionCompiler,
    Issues,
    Path,
    Predicate,
    attribute_getter,
    compile_condition,
    fused_terms,
    value_problem,
)
from .interning import Shared, canonical
from .ramps import Clock, ramped, schedule_of
from .references import MAX_PREREQUISITE_DEPTH as MAX_PREREQUISITE_DEPTH
from .references import MAX_PREREQUISITE_EVALUATIONS as MAX_PREREQUISITE_EVALUATIONS
from .references import check_requires
from .rules import (
    RESOLVER_SPLITS,
    OneRule,
    OneSplitRule,
    Rules,
    Step,
    fused_rule,
    gated,
    prerequisite_holds,
    requirements,
)
from .splits import DEFAULT_BUCKET_ATTRIBUTES as DEFAULT_BUCKET_ATTRIBUTES
from .splits import TOTAL_WEIGHT as TOTAL_WEIGHT
from .splits import WEIGHT_SCALE as WEIGHT_SCALE
from .splits import (
    Edges,
    Resolution,
    SchemeSplit,
    Split,
    cumulative,
    default_bucket_value,
    edge_table,
    flagd_split,
    hashed_edges,
    weights,
)

__all__ = [
    "BOOLEAN_VARIANTS",
    "DEFAULT_BUCKET_ATTRIBUTES",
    "MAX_PREREQUISITE_DEPTH",
    "MAX_PREREQUISITE_EVALUATIONS",
    "TOTAL_WEIGHT",
    "WEIGHT_SCALE",
    "CompiledFlag",
    "Predicate",
    "Resolution",
    "Resolver",
    "attribute_getter",
    "compile_condition",
    "compile_document",
    "compile_static",
    "constant_flag",
    "off_variant_name",
    "prerequisite_holds",
    "requirements",
    "switched_off_variant",
    "thawed",
]


class _Document:
    """What the flags of one document share while it compiles."""

    __slots__ = (
        "clock",
        "conditions",
        "issues",
        "packed",
        "raw_features",
        "raw_segments",
        "segment_sets",
        "shared",
    )

    def __init__(
        self, doc: FlagDocument, source: str | None, clock: Clock, raw: Mapping[str, Any] | None
    ) -> None:
        self.issues = Issues(source)
        self.shared: Shared = {}
        self.clock = clock
        self.conditions = ConditionCompiler(
            doc.segments,
            self.issues,
            clock=clock,
            numeric_strings=doc.options.numeric_strings,
            shared=self.shared,
        )
        features = raw.get("features") if isinstance(raw, Mapping) else None
        segments = raw.get("segments") if isinstance(raw, Mapping) else None
        self.raw_features: Mapping[str, Any] = features if isinstance(features, Mapping) else {}
        self.raw_segments: Mapping[str, Any] = segments if isinstance(segments, Mapping) else doc.segments
        self.packed: dict[str, Packed] = {}
        self.segment_sets: dict[tuple[str, ...], tuple[Packed, ...]] = {}

    def segments(self, names: tuple[str, ...]) -> tuple[Packed, ...]:
        """The packed conditions of segments ``names``: each packed once, one tuple per set."""
        found = self.segment_sets.get(names)
        if found is None:
            for name in names:
                if name not in self.packed:
                    self.packed[name] = pack(self.raw_segments.get(name))
            found = self.segment_sets[names] = tuple(self.packed[name] for name in names)
        return found


class _FlagBuilder:
    __slots__ = ("clock", "conditions", "doc", "flag", "issues", "key", "path", "shared", "variants")

    def __init__(self, key: str, flag: FlagDefinition, doc: _Document) -> None:
        self.doc = doc
        self.clock = doc.clock
        self.key = key
        self.flag = flag
        self.conditions = doc.conditions
        self.issues = doc.issues
        self.shared = doc.shared
        self.path: Path = ("features", key)
        self.variants: Mapping[str, Any] = BOOLEAN_VARIANTS

    def resolution(self, variant: str, reason: Reason, rule: str | None) -> Resolution:
        """The ``(value, variant, reason, rule)`` tuple, shared with every equal one."""
        if variant == CODE_DEFAULT_NAME:
            # The caller's default: no variant; reason DEFAULT (as flagd reports a null
            # variant) unless the flag is off or a prerequisite failed.
            kept = reason if reason in (Reason.DISABLED, Reason.PREREQUISITE_FAILED) else Reason.DEFAULT
            caller: Resolution = (CODE_DEFAULT, None, kept, rule)
            shared: Resolution = self.shared.setdefault(("caller's default", kept, rule), caller)
            return shared
        value = self.variants[variant]
        key = ("resolution", variant, reason, rule, canonical(value))
        found: Resolution | None = self.shared.get(key)
        if found is None:
            found = self.shared[key] = (value, variant, reason, rule)
        return found

    def known(self, name: str) -> bool:
        """A variant of this flag, or ``code_default``."""
        return name in self.variants or name == CODE_DEFAULT_NAME

    def build(self, source: str | None) -> CompiledFlag | None:
        flag = self.flag
        before = len(self.issues.items)
        self.variants = flag.variants if flag.variants is not None else BOOLEAN_VARIANTS
        if not self.variants:
            self.issues.add("`variants` must not be empty", (*self.path, "variants"))
            return None
        if CODE_DEFAULT_NAME in self.variants:
            self.issues.add(
                f"`{CODE_DEFAULT_NAME}` is reserved (it means the caller's default); rename the variant",
                (*self.path, "variants", CODE_DEFAULT_NAME),
            )
            return None
        if flag.variants:
            self._check_nesting("variants", flag.variants)
        if flag.metadata:
            self._check_nesting("metadata", flag.metadata)
        default = flag.default
        if default is None:
            if flag.variants is None:
                default = "off"
            else:
                self.issues.add("`default` is required when `variants` are given", self.path)
                return None
        if not self.known(default):
            self._unknown_variant(default, (*self.path, "default"))
            default = next(iter(self.variants))  # keep checking the rules; the flag is rejected
        if flag.off_variant is not None and not self.known(flag.off_variant):
            self._unknown_variant(flag.off_variant, (*self.path, "off_variant"))
        rules = [self.rule(i, rule, default) for i, rule in enumerate(flag.rules)]
        if len(self.issues.items) > before:
            return None
        if flag.variants is not None:  # equal variant sets are one mapping
            self.variants = self.shared.setdefault(("variants", canonical(flag.variants)), flag.variants)
        resolver = self.resolver(default, rules)
        if flag.variants is not None and any(isinstance(v, CONTAINERS) for v in flag.variants.values()):
            resolver = fresh_copies(resolver)
        segments = self.doc.segments(tuple(sorted(self.conditions.used))) if self.conditions.used else ()
        spec = FlagSpec.of(flag, self.doc.raw_features.get(self.key), segments)
        return CompiledFlag(
            key=self.key,
            resolve=resolver,
            variants=read_only_variants(self.variants, self.shared),
            default_variant=self.shared.setdefault(("name", default), default),
            spec=spec,
            fingerprint=spec,
            source=source,
        )

    def _check_nesting(self, field: str, values: Mapping[str, Any]) -> None:
        """Values nest at most as deep as the YAML reader allows and hold only finite numbers
        (JSON and Python data too)."""
        for name, value in values.items():
            if isinstance(value, dict | list | float | int):
                path = (*self.path, field, name)
                problem = value_problem(value, MAX_CONDITION_DEPTH - len(path))
                if problem is not None:
                    self.issues.add(problem, path)

    def _unknown_variant(self, name: str, path: Path) -> None:
        known = ", ".join(self.variants)
        hint = did_you_mean(name, self.variants)
        self.issues.add(
            f"{name!r} is not a variant of this flag{hint} (variants: {known}; or {CODE_DEFAULT_NAME})", path
        )

    def rule(self, index: int, rule: Rule, default: str) -> Step:
        path = (*self.path, "rules", index)
        label = rule.name or f"rules[{index}]"
        pred = None
        if rule.when is not None:
            pred = self.conditions.condition(rule.when, (*path, "when"))
        if isinstance(rule.serve, str):
            if rule.bucketing is not None:
                message = "`bucketing` applies to splits; this rule serves one variant"
                self.issues.add(message, (*path, "bucketing"))
            if not self.known(rule.serve):
                self._unknown_variant(rule.serve, (*path, "serve"))
                return pred, None, None
            return pred, self.resolution(rule.serve, Reason.TARGETING_MATCH, label), None
        units = weights(rule.serve, (*path, "serve"), self.issues)
        if units is None:
            return pred, None, None
        unknown = [name for name, _ in units if not self.known(name)]
        for name in unknown:
            self._unknown_variant(name, (*path, "serve", name))
        if unknown:
            return pred, None, None
        arms = [(weight, self.resolution(name, Reason.SPLIT, label)) for name, weight in units]
        fallback = self.resolution(default, Reason.DEFAULT, label)
        flag = self.flag
        attribute = None if isinstance(flag.bucket_by, BucketInput) else flag.bucket_by
        plain = rule.bucketing is None and flag.bucketing is None and attribute == flag.bucket_by

        def split(arms: list[tuple[int, Resolution]]) -> Split | None:
            if plain:
                edges = self.edges(cumulative(arms), arms)
                salt = self.key if flag.salt is None else flag.salt
                hashed = self.shared.get(("hashed", id(edges)))
                if hashed is None:  # edges are shared (kept alive by the table): their id is a key
                    hashed = self.shared[("hashed", id(edges))] = hashed_edges(edges)
                return flagd_split(salt, attribute, edges, hashed, fallback, self.clock)
            return self.scheme_split(rule, path, arms, fallback)

        if rule.ramp is not None:
            return pred, None, self.ramp(rule.ramp, path, arms, split)
        return pred, None, split(arms)

    def edges(self, edges: list[int], arms: list[tuple[int, Resolution]]) -> Edges:
        """The split's edge table, shared with every equal one (resolutions are shared)."""
        table = edge_table(edges, arms)
        inner, last = table
        key = ("edges", *((edge, id(res)) for edge, res in inner), id(last))
        shared: Edges = self.shared.setdefault(key, table)
        return shared

    def scheme_split(
        self, rule: Rule, path: Path, arms: list[tuple[int, Resolution]], fallback: Resolution
    ) -> Split | None:
        """A split with another bucketing scheme or an explicit input (see flagkit._engine.schemes)."""
        flag = self.flag
        where = (*path, "bucketing") if rule.bucketing is not None else (*self.path, "bucketing")
        try:
            scheme = schemes.scheme_from(rule.bucketing or flag.bucketing, self.key, flag.salt)
        except ValueError as exc:
            self.issues.add(str(exc), where)
            return None
        try:
            edges = schemes.scaled_edges(cumulative(arms), scheme.scale, TOTAL_WEIGHT)
        except ValueError as exc:
            self.issues.add(f"{exc} ({scheme.name} bucketing)", (*path, "serve"))
            return None
        bucket_by = flag.bucket_by
        salted = True
        if isinstance(bucket_by, BucketInput):
            try:
                template = schemes.parse_template(bucket_by.input, self.key)
            except ValueError as exc:
                self.issues.add(str(exc), (*self.path, "bucket_by", "input"))
                return None
            getter = schemes.input_getter(template, lambda name: attribute_getter(name, self.clock))
            salted = bucket_by.salted
        else:
            getter = (
                attribute_getter(bucket_by, self.clock) if bucket_by is not None else default_bucket_value
            )
        point = schemes.point_function(scheme, salted=salted)
        return SchemeSplit(point, getter, self.edges(edges, arms), fallback).resolve

    def ramp(
        self,
        ramp: Ramp,
        path: Path,
        arms: list[tuple[int, Resolution]],
        split: Callable[[list[tuple[int, Resolution]]], Split | None],
    ) -> Split | None:
        """One precompiled split per phase of the ramp, picked by the clock (see ramps.py)."""
        if len(arms) != 2:
            self.issues.add("a ramp needs a two-variant split (it grows the first one)", (*path, "ramp"))
            return None
        (initial, first), (_, second) = arms
        schedule, problems = schedule_of(ramp, initial)
        for message, where in problems:
            self.issues.add(message, (*path, "ramp", *where))
        if schedule is None:
            return None
        phases = []
        for units in (initial, *schedule.units):
            phase = split([(units, first), (TOTAL_WEIGHT - units, second)])
            if phase is None:  # the scheme cannot express this step; its issue is reported once
                return None
            phases.append(phase)
        return ramped(schedule, tuple(phases), self.clock)

    def resolver(
        self,
        default: str,
        rules: list[Step],
    ) -> Resolver:
        flag = self.flag
        off = off_variant_name(self.variants, default, flag.off_variant)
        if not flag.enabled:
            return self.constant(self.resolution(off, Reason.DISABLED, None))
        no_match = self.resolution(default, Reason.DEFAULT if rules else Reason.STATIC, None)
        walk = self.walk(rules, no_match)
        if not flag.requires:
            return walk
        needs = tuple(requirements(flag))
        failed = self.resolution(off, Reason.PREREQUISITE_FAILED, None)
        return gated(needs, failed, walk)

    def walk(self, rules: list[Step], no_match: Resolution) -> Resolver:
        """The rules as a resolver: shared by flags with the same rules; a constant or the
        split itself when the first rule matches everyone."""
        steps: list[Step] = []
        for step in rules:
            pred, fixed, split = step
            if split is None:  # a split is the flag's own (salted); other rules are shared
                step = self.shared.setdefault(("step", id(pred), id(fixed)), step)
            steps.append(step)
            if pred is None:  # matches everyone: the rules after it are never reached
                break
        if not steps:
            return self.constant(no_match)
        first_pred, first_fixed, first_split = steps[0]
        if first_pred is None:
            if first_split is None:
                return self.constant(first_fixed)  # type: ignore[arg-type]  # set when split is None
            if type(getattr(first_split, "__self__", None)) in RESOLVER_SPLITS:
                return cast(Resolver, first_split)  # its resolve takes (context, table) too
        if len(steps) == 1 and first_pred is not None and first_split is not None:  # the flag's own split
            fused = fused_terms(self.shared, first_pred)
            if fused is not None:
                return fused_rule(fused, first_split, no_match, split=True)
            return OneSplitRule(first_pred, first_split, no_match).resolve
        if any(split is not None for _, _, split in steps):  # never equal to another flag's
            return Rules(tuple(steps), no_match).resolve
        key = ("rules", id(no_match), *(id(part) for step in steps for part in step))
        rules_of: Resolver | None = self.shared.get(key)
        if rules_of is None:
            if len(steps) == 1 and first_pred is not None and first_fixed is not None:
                fused = fused_terms(self.shared, first_pred)
                if fused is not None:
                    rules_of = fused_rule(fused, first_fixed, no_match, split=False)
                else:
                    rules_of = OneRule(first_pred, first_fixed, no_match).resolve
            else:
                rules_of = Rules(tuple(steps), no_match).resolve
            self.shared[key] = rules_of
        return rules_of

    def constant(self, resolution: Resolution) -> Resolver:
        """A resolver always serving ``resolution`` (one per resolution)."""
        key = ("constant resolver", id(resolution))
        found: Resolver | None = self.shared.get(key)
        if found is None:
            found = self.shared[key] = constant_resolver(resolution)
        return found


def compile_document(
    doc: FlagDocument,
    source: str | None = None,
    *,
    clock: Clock,
    raw: Mapping[str, Any] | None = None,
) -> tuple[dict[str, CompiledFlag], list[ConfigIssue], set[str]]:
    """Compile every flag of a validated document.

    Args:
        doc: The validated document.
        source: Where it came from (for errors).
        clock: Seconds since the epoch, read by ramped splits and ``now`` conditions on each
            evaluation (the engine reads no other clock; :class:`~flagkit.FlagSet` passes
            :func:`flagkit.flagset.now` unless given one; tests inject a fake one).
        raw: The document ``doc`` was validated from. Given, each flag keeps its definition as
            compact bytes and re-validates it when asked (:mod:`flagkit.document.definitions`);
            otherwise it keeps the validated model.

    Returns:
        ``(flags, issues, used_segments)``; the document is valid only when ``issues`` is empty.
    """
    compiling = _Document(doc, source, clock, raw)
    issues, conditions, shared = compiling.issues, compiling.conditions, compiling.shared
    check_requires(doc, issues)
    flags: dict[str, CompiledFlag] = {}
    used_segments: set[str] = set()
    for key, flag in doc.features.items():
        if isinstance(flag, FlagDefinition):
            conditions.used = set()
            compiled = _FlagBuilder(key, flag, compiling).build(source)
            used_segments |= conditions.used
            if compiled is not None:
                flags[key] = compiled
        elif (problem := value_problem(flag, 0)) is not None:  # Python data; the readers refuse it
            issues.add(problem, ("features", key))
        else:
            flags[key] = compile_static(key, flag, source, shared)
    for name in doc.segments:
        if name not in conditions.compiled and name not in used_segments:
            conditions.segment(name, ("segments", name))  # still validate unused segments
    return flags, issues.items, used_segments
