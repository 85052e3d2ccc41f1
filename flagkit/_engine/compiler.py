"""Validated definitions → compiled flags: plain callables over pre-parsed operands.

A compiled flag is a *resolver*: ``resolver(context, table) -> Resolution``, where ``table``
maps flag keys to resolvers (for prerequisites) and a :data:`Resolution` is a tuple
``(value, variant, reason, rule)`` allocated here, at load time, so the hot path only
returns one of them.

The flags of one document share what is equal between them (:mod:`flagkit._engine.interning`):
resolution tuples, condition predicates, split tables, variant sets, and the resolver itself
of flags with the same rules. Rules and splits are small slotted objects whose bound
``resolve`` is the callable: as fast to call as a closure, a third of its memory. A compiled
flag keeps its definition only as compact bytes (:mod:`flagkit.document.definitions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from ..document.definitions import FlagSpec, Packed, pack
from ..document.schema import BucketInput, FlagDefinition, FlagDocument, Ramp, Rule
from ..errors import ConfigIssue, did_you_mean
from ..evaluation import CODE_DEFAULT, CODE_DEFAULT_NAME, Reason
from . import schemes
from .conditions import (
    MAX_CONDITION_DEPTH,
    ConditionCompiler,
    Issues,
    Path,
    Predicate,
    attribute_getter,
    compile_condition,
    value_problem,
)
from .interning import Shared, canonical
from .ramps import Clock, ramped, schedule_of
from .splits import DEFAULT_BUCKET_ATTRIBUTES as DEFAULT_BUCKET_ATTRIBUTES
from .splits import TOTAL_WEIGHT as TOTAL_WEIGHT
from .splits import WEIGHT_SCALE as WEIGHT_SCALE
from .splits import (
    Edges,
    FlagdSplit,
    Resolution,
    SchemeSplit,
    Split,
    cumulative,
    default_bucket_value,
    edge_table,
    flagd_split,
    weights,
)

__all__ = [
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
    "requirements",
    "switched_off_variant",
    "thawed",
]

Resolver = Callable[[Mapping[str, Any], Mapping[str, Any]], Resolution]

BOOLEAN_VARIANTS: Mapping[str, Any] = MappingProxyType({"on": True, "off": False})
"""Variants of a flag without ``variants``: shared by every such flag, hence read-only."""
_CONTAINERS = (dict, list)


class ReadOnlyDict(dict[str, Any]):
    """An object variant as :attr:`CompiledFlag.variants` shows it: a ``dict`` (equal to one,
    JSON-serialisable) that refuses changes, since every request shares it."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a flag's variants are read-only (every request shares them); copy the value")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> Any:
        return (dict, (dict(self),))


class ReadOnlyList(list[Any]):
    """A list variant as :attr:`CompiledFlag.variants` shows it (see :class:`ReadOnlyDict`)."""

    __slots__ = ()

    _refuse = ReadOnlyDict._refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = clear = extend = insert = pop = remove = reverse = sort = _refuse

    def __reduce__(self) -> Any:
        return (list, (list(self),))


def _read_only(value: Any) -> Any:
    if isinstance(value, dict):
        return ReadOnlyDict({key: _read_only(item) for key, item in value.items()})
    if isinstance(value, list):
        return ReadOnlyList(_read_only(item) for item in value)
    return value


def read_only_variants(variants: Mapping[str, Any], shared: Shared | None = None) -> Mapping[str, Any]:
    """``variants`` as :attr:`CompiledFlag.variants` holds them: a read-only mapping, object
    and list values read-only too (the served values stay separate: evaluations copy them)."""
    if type(variants) is MappingProxyType:
        return variants
    if shared is not None:
        key = ("read-only variants", canonical(variants))
        found: Mapping[str, Any] | None = shared.get(key)
        if found is None:
            found = shared[key] = read_only_variants(variants)
        return found
    if any(isinstance(value, _CONTAINERS) for value in variants.values()):
        return MappingProxyType({name: _read_only(value) for name, value in variants.items()})
    return MappingProxyType(dict(variants))


def thawed(value: Any) -> Any:
    """A plain, private copy of a variant value taken from :attr:`CompiledFlag.variants`."""
    if isinstance(value, dict):
        return {key: thawed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [thawed(item) for item in value]
    if type(value) is tuple:
        return tuple(thawed(item) for item in value)
    return value


MAX_PREREQUISITE_DEPTH = 64
"""Longest chain of ``requires`` (a flag requiring a flag requiring ...): evaluation recurses."""
MAX_PREREQUISITE_EVALUATIONS = 1_000
"""Most flag evaluations one evaluation may trigger through ``requires`` (shared prerequisites
count once per path, so diamonds of requirements grow exponentially without this bound)."""


@dataclass(frozen=True, slots=True, eq=False)
class CompiledFlag:
    """One flag ready to evaluate, plus what tools need to describe it.

    Attributes:
        key: The flag key.
        resolve: The compiled resolver (hot path).
        variants: Variant name → value, read-only (object and list values too: they are
            shared by every request; :func:`thawed` gives a private copy).
        default_variant: Variant served when nothing matches.
        spec: The definition, kept compactly (``None`` for a bare static value); see
            :mod:`flagkit.document.definitions`.
        fingerprint: Equal fingerprints mean equal behaviour (used to report changes).
        source: Where the flag was loaded from.
    """

    key: str
    resolve: Resolver
    variants: Mapping[str, Any]
    default_variant: str
    spec: FlagSpec | None
    fingerprint: Any
    source: str | None = None

    @property
    def definition(self) -> FlagDefinition | None:
        """The validated definition (``None`` for a bare static value), re-derived on demand."""
        return self.spec.definition() if self.spec is not None else None

    @property
    def constant(self) -> Resolution | None:
        """The resolution this flag serves to every context, or ``None`` when it depends on
        the context, the clock or other flags.

        Set for a static value, a disabled (killed) flag, a flag without rules or whose first
        rule matches everyone with one variant, and an override; ``None`` for a flag serving
        dict or list values (each evaluation gets its own copy) and for any wrapped resolver
        (a guard's). Read it when building a table, not per evaluation: it costs an
        attribute lookup and a type check, and needs no memory of its own.
        """
        owner = getattr(self.resolve, "__self__", None)
        return owner.resolution if type(owner) is _Constant else None

    @property
    def is_static(self) -> bool:
        """True for a bare value (``features: {x: true}``)."""
        return self.spec is None


def off_variant_name(variants: Mapping[str, Any], default: str, off_variant: str | None) -> str:
    """The variant a *switched-off* flag serves: the one meaning of "off" in flagkit.

    A flag is switched off when it is killed (``enabled: false``, ``flagkit kill``), when one
    of its prerequisites fails, and while its guard is tripped. It then serves:

    1. its ``off_variant`` when the file names one (``code_default``: the caller's default);
    2. else its ``false`` variant (every boolean flag has one, ``off``, so a switched-off
       boolean flag is off, whatever its ``default``);
    3. else its ``default`` (a flag of strings, numbers or objects has no obvious "off";
       ``flagkit kill`` refuses such a flag unless told what to serve, and ``validate`` warns
       when the default is truthy).
    """
    if off_variant is not None:
        return off_variant
    return next((name for name, value in variants.items() if value is False), default)


def switched_off_variant(flag: CompiledFlag) -> str:
    """:func:`off_variant_name` of a compiled flag. A static flag has no ``off_variant``: a
    boolean one (``x: true``) is switched off to ``off``; any other serves its only value."""
    definition = flag.definition
    off_variant = definition.off_variant if definition is not None else None
    return off_variant_name(flag.variants, flag.default_variant, off_variant)


Step = tuple[Predicate | None, Resolution | None, Split | None]
"""A rule: its condition (``None``: everyone), and the fixed resolution or the split it serves."""
_SPLITS = (FlagdSplit, SchemeSplit)
"""Splits whose ``resolve`` also takes the table, so it can serve as a flag's resolver."""


class _Rules:
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


class _OneRule:
    """A flag with one conditional rule serving a fixed resolution (no loop to walk)."""

    __slots__ = ("fixed", "no_match", "pred")

    def __init__(self, pred: Predicate, fixed: Resolution, no_match: Resolution) -> None:
        self.pred = pred
        self.fixed = fixed
        self.no_match = no_match

    def resolve(self, ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
        """The resolution for ``ctx``."""
        return self.fixed if self.pred(ctx) else self.no_match


class _OneSplitRule:
    """A flag with one conditional rule serving a split (no loop to walk)."""

    __slots__ = ("no_match", "pred", "split")

    def __init__(self, pred: Predicate, split: Split, no_match: Resolution) -> None:
        self.pred = pred
        self.split = split
        self.no_match = no_match

    def resolve(self, ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
        """The resolution for ``ctx``."""
        return self.split(ctx) if self.pred(ctx) else self.no_match


class _Constant:
    """A resolver that serves one resolution whatever the context: its bound ``resolve`` is
    the flag's resolver (as fast to call as a closure), and :attr:`CompiledFlag.constant`
    recognises it by its ``__self__``."""

    __slots__ = ("resolution",)

    def __init__(self, resolution: Resolution) -> None:
        self.resolution = resolution

    def resolve(self, ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
        """``resolution``, for everyone."""
        return self.resolution


def _constant(resolution: Resolution) -> Resolver:
    return _Constant(resolution).resolve


# --- flags --------------------------------------------------------------------------------


def compile_static(
    key: str, value: Any, source: str | None = None, shared: Shared | None = None
) -> CompiledFlag:
    """A flag that serves ``value`` to everyone (reason STATIC).

    ``shared``: the compiling document's table, so equal static flags share their parts.
    """
    if isinstance(value, bool):
        variant = "on" if value else "off"
        variants: Mapping[str, Any] = BOOLEAN_VARIANTS
    else:
        variant = str(value)
        variants = {variant: value}
        if shared is not None:
            variants = shared.setdefault(("variants", canonical(variants)), variants)
            variant = next(iter(variants))
    return constant_flag(key, value, variant, variants, Reason.STATIC, source, shared)


def constant_flag(
    key: str,
    value: Any,
    variant: str,
    variants: Mapping[str, Any],
    reason: Reason,
    source: str | None = None,
    shared: Shared | None = None,
) -> CompiledFlag:
    """A flag that serves ``value`` (as ``variant``) to everyone with ``reason``.

    ``shared``: the compiling document's table, so equal constant flags share their resolver.
    """
    resolution: Resolution = (value, variant, reason, None)
    fingerprint = (str(reason), variant, type(value).__name__, repr(value))
    mutable = isinstance(value, _CONTAINERS)
    if shared is not None and not mutable:
        known = shared.get(("constant", fingerprint))
        if known is not None:
            resolver, fingerprint = known
        else:
            resolver = _constant(resolution)
            shared[("constant", fingerprint)] = (resolver, fingerprint)
    else:
        resolver = _constant(resolution)
        if mutable:
            resolver = _fresh_copies(resolver)
    return CompiledFlag(
        key=key,
        resolve=resolver,
        variants=read_only_variants(variants, shared),
        default_variant=variant,
        spec=None,
        fingerprint=fingerprint,
        source=source,
    )


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
        if flag.variants is not None and any(isinstance(v, _CONTAINERS) for v in flag.variants.values()):
            resolver = _fresh_copies(resolver)
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
                return flagd_split(salt, attribute, edges, fallback, self.clock)
            return self.scheme_split(rule, path, arms, fallback)

        if rule.ramp is not None:
            return pred, None, self.ramp(rule.ramp, path, arms, split)
        return pred, None, split(arms)

    def edges(self, edges: list[int], arms: list[tuple[int, Resolution]]) -> Edges:
        """The split's edge table, shared with every equal one (resolutions are shared)."""
        table = edge_table(edges, arms)
        shared: Edges = self.shared.setdefault(("edges", *((edge, id(res)) for edge, res in table)), table)
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
        if all(want is True for _, want in needs):  # the common form: plain keys, "is on"
            keys = tuple(key for key, _ in needs)

            def gated(ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
                for key in keys:
                    resolve = table.get(key)
                    if resolve is None:
                        return failed
                    parent = resolve(ctx, table)
                    if not parent[0] or parent[2] in _NOT_SERVING or parent[0] is CODE_DEFAULT:
                        return failed
                return walk(ctx, table)

            return gated

        def gated_by_variant(ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
            for key, want in needs:
                resolve = table.get(key)
                if resolve is None or not prerequisite_holds(resolve(ctx, table), want):
                    return failed
            return walk(ctx, table)

        return gated_by_variant

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
            if type(getattr(first_split, "__self__", None)) in _SPLITS:
                return cast(Resolver, first_split)  # its resolve takes (context, table) too
        if len(steps) == 1 and first_pred is not None and first_split is not None:
            return _OneSplitRule(first_pred, first_split, no_match).resolve  # the flag's own split
        if any(split is not None for _, _, split in steps):  # never equal to another flag's
            return _Rules(tuple(steps), no_match).resolve
        key = ("rules", id(no_match), *(id(part) for step in steps for part in step))
        rules_of: Resolver | None = self.shared.get(key)
        if rules_of is None:
            if len(steps) == 1 and first_pred is not None and first_fixed is not None:
                rules_of = _OneRule(first_pred, first_fixed, no_match).resolve
            else:
                rules_of = _Rules(tuple(steps), no_match).resolve
            self.shared[key] = rules_of
        return rules_of

    def constant(self, resolution: Resolution) -> Resolver:
        """A resolver always serving ``resolution`` (one per resolution)."""
        key = ("constant resolver", id(resolution))
        found: Resolver | None = self.shared.get(key)
        if found is None:
            found = self.shared[key] = _constant(resolution)
        return found


Want = bool | frozenset[str]
"""What a prerequisite asks of its flag: on (True), off (False), or one of these variants."""
_NOT_SERVING = frozenset({Reason.DISABLED, Reason.PREREQUISITE_FAILED, Reason.GUARD_TRIPPED})
"""Reasons of a flag that is switched off (killed, its own prerequisites failed, or its guard
tripped in this process): it is off for the flags that require it, whatever value it serves."""


def prerequisite_holds(resolution: Resolution, want: Want) -> bool:
    """Whether a prerequisite flag's resolution satisfies ``want``.

    As in LaunchDarkly and Unleash, a flag that is switched off (:data:`_NOT_SERVING`) is off:
    it satisfies "off" and nothing else, even when its default is truthy. Otherwise on means a
    truthy value (not the caller's default), off its negation, and a variant requirement the
    variant served.
    """
    serving = resolution[2] not in _NOT_SERVING
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


def _copy(value: Any) -> Any:
    if type(value) is dict:
        return {key: _copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy(item) for item in value]
    return value


def _fresh_copies(resolver: Resolver) -> Resolver:
    """Serve a fresh copy of dict/list values, so a caller mutating the value it got (say,
    ``get_value("cfg", {})["limits"].append(1)``) cannot change the flag for everyone.
    Applied only to flags that have such values; scalars are immutable and shared."""

    def fresh(ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
        resolution = resolver(ctx, table)
        value = resolution[0]
        if type(value) is dict or type(value) is list:
            return (_copy(value), resolution[1], resolution[2], resolution[3])
        return resolution

    return fresh


def _check_requires(doc: FlagDocument, issues: Issues) -> None:
    graph: dict[str, list[str]] = {}
    for key, flag in doc.features.items():
        if isinstance(flag, FlagDefinition):
            graph[key] = []
            for i, item in enumerate(flag.requires):
                where = ("features", key, "requires", i)
                if isinstance(item, dict) and len(item) != 1:
                    issues.add("write one prerequisite per entry: `{flag: variant}`", where)
                    continue
                req, want = (item, True) if isinstance(item, str) else next(iter(item.items()))
                graph[key].append(req)
                if req not in doc.features:
                    issues.add(f"requires unknown flag {req!r}{did_you_mean(req, doc.features)}", where)
                elif req == key:
                    issues.add("a flag cannot require itself", where)
                elif isinstance(want, str | list):
                    _check_required_variants(doc.features[req], req, want, (*where, req), issues)
    # Depth-first, with an explicit stack: a chain of thousands of flags must not recurse.
    state: dict[str, int] = {}  # 1 = visiting, 2 = done
    depth: dict[str, int] = {}  # longest chain of requires below a flag, itself included
    calls: dict[str, int] = {}  # flag evaluations one evaluation of it triggers (capped)
    cyclic = False
    for root, requires in graph.items():
        if not requires or root in state:  # no chain starts at a flag without prerequisites
            continue
        state[root] = 1
        trail = [root]
        stack = [iter(graph[root])]
        while stack:
            key = trail[-1]
            nxt = next(stack[-1], None)
            if nxt is not None:
                if state.get(nxt) == 1 and nxt != key:
                    cyclic = True
                    cycle = " → ".join([*trail[trail.index(nxt) :], nxt]) if nxt in trail else nxt
                    issues.add(f"prerequisite cycle: {cycle}", ("features", key, "requires"))
                elif state.get(nxt) is None and graph.get(nxt):
                    state[nxt] = 1
                    trail.append(nxt)
                    stack.append(iter(graph[nxt]))
                continue
            state[key] = 2
            trail.pop()
            stack.pop()
            if not cyclic:
                _measure(key, graph[key], depth, calls, issues)


def _measure(
    key: str, requires: list[str], depth: dict[str, int], calls: dict[str, int], issues: Issues
) -> None:
    """Bound the recursion and the work of evaluating ``key`` through its prerequisites."""
    below = [r for r in requires if r in depth]
    depth[key] = 1 + max((depth[r] for r in below), default=0)
    calls[key] = min(1 + sum(calls.get(r, 1) for r in requires), MAX_PREREQUISITE_EVALUATIONS + 1)
    path = ("features", key, "requires")
    # Reported once, at the flag where the bound is first crossed.
    if depth[key] == MAX_PREREQUISITE_DEPTH + 1:
        issues.add(f"prerequisite chain deeper than {MAX_PREREQUISITE_DEPTH} flags", path)
    elif (
        depth[key] <= MAX_PREREQUISITE_DEPTH
        and calls[key] > MAX_PREREQUISITE_EVALUATIONS
        and all(calls.get(r, 1) <= MAX_PREREQUISITE_EVALUATIONS for r in requires)
    ):
        issues.add(
            f"evaluating this flag would evaluate its prerequisites more than "
            f"{MAX_PREREQUISITE_EVALUATIONS:,} times (shared requirements count once per path)",
            path,
        )


def _check_required_variants(
    parent: Any, req: str, want: str | list[str], where: Path, issues: Issues
) -> None:
    names = [want] if isinstance(want, str) else want
    if not names:
        issues.add("list at least one variant (or write `true`/`false`)", where)
        return
    if isinstance(parent, FlagDefinition):
        variants: Mapping[str, Any] = parent.variants if parent.variants is not None else BOOLEAN_VARIANTS
    else:
        variants = compile_static(req, parent).variants
    for name in names:
        if name not in variants:
            known = ", ".join(variants)
            hint = did_you_mean(name, variants)
            issues.add(f"{name!r} is not a variant of {req!r}{hint} (variants: {known})", where)


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
    _check_requires(doc, issues)
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
