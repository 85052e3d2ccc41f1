"""Validated definitions → compiled flags: plain closures over pre-parsed operands.

A compiled flag is a *resolver*: ``resolver(context, table) -> Resolution``, where ``table``
maps flag keys to resolvers (for prerequisites) and a :data:`Resolution` is a tuple
``(value, variant, reason, rule)`` allocated here, at load time, so the hot path only
returns one of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import mmh3

from . import bucketers
from .bucketing import _TEXT_HEADS, encode_pair_prefix
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
from .errors import ConfigIssue, did_you_mean
from .evaluation import CODE_DEFAULT, CODE_DEFAULT_NAME, Reason
from .ramps import Clock, ramped, schedule_of
from .schema import BucketInput, FlagDefinition, FlagDocument, Ramp, Rule

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
    "requirements",
]

Resolution = tuple[Any, str | None, Reason, str | None]
"""``(value, variant, reason, rule)``: what a resolver returns."""
Resolver = Callable[[Mapping[str, Any], Mapping[str, Any]], Resolution]

BOOLEAN_VARIANTS: Mapping[str, Any] = MappingProxyType({"on": True, "off": False})
"""Variants of a flag without ``variants``: shared by every such flag, hence read-only."""
WEIGHT_SCALE = 1000
"""Weights are percentages with 0.001 % resolution: stored as integers out of 100,000."""
TOTAL_WEIGHT = 100 * WEIGHT_SCALE
_CONTAINERS = (dict, list)
DEFAULT_BUCKET_ATTRIBUTES = ("targeting_key", "user_id")
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
        variants: Variant name → value.
        default_variant: Variant served when nothing matches.
        definition: The validated definition (``None`` for a bare static value).
        fingerprint: Equal fingerprints mean equal behaviour (used to report changes).
        source: Where the flag was loaded from.
    """

    key: str
    resolve: Resolver
    variants: Mapping[str, Any]
    default_variant: str
    definition: FlagDefinition | None
    fingerprint: Any
    source: str | None = None

    @property
    def is_static(self) -> bool:
        """True for a bare value (``features: {x: true}``)."""
        return self.definition is None


# --- splits -------------------------------------------------------------------------------


def _weights(serve: dict[str, float], path: Path, issues: Issues) -> list[tuple[str, int]] | None:
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


def _default_bucket_value(ctx: Mapping[str, Any]) -> Any:
    first, second = DEFAULT_BUCKET_ATTRIBUTES
    value = ctx.get(first)
    return ctx.get(second) if value is None else value


def _split_resolver(
    salt: str,
    attribute: str | None,
    arms: list[tuple[int, Resolution]],
    fallback: Resolution,
) -> Callable[[Mapping[str, Any]], Resolution]:
    prefix = encode_pair_prefix(salt)
    heads = _TEXT_HEADS
    hash32 = mmh3.hash
    scale = TOTAL_WEIGHT
    edges: list[tuple[int, Resolution]] = []
    running = 0
    for units, resolution in arms:
        running += units
        if units:
            edges.append((running, resolution))
    table = tuple(edges)
    last = table[-1][1]

    # The same point function as bucketers' flagd scheme: the general case below.
    slow_point = bucketers.point_function(bucketers.Scheme("flagd", scale, salt))

    # The common case is specialised: the default attributes, or a plain attribute name,
    # and string values shorter than 256 UTF-8 bytes.
    getter = attribute_getter(attribute) if attribute is not None else _default_bucket_value
    split_any = _scheme_split(slow_point, getter, _cumulative(arms), arms, fallback)

    if attribute is None:
        first, second = DEFAULT_BUCKET_ATTRIBUTES
    elif "." not in attribute and attribute != "now":
        first, second = attribute, attribute
    else:
        return split_any

    def split(ctx: Mapping[str, Any]) -> Resolution:
        value = ctx.get(first)
        if value is None:
            value = ctx.get(second)
        if type(value) is str:
            try:
                raw = value.encode()
            except UnicodeEncodeError:  # lone surrogates: encoded as flagd's CBOR does
                raw = value.encode("utf-8", "surrogatepass")
            n = len(raw)
            if n >= 256:
                return split_any(ctx)
            point = (hash32(prefix + heads[n] + raw, 0, False) * scale) >> 32
        else:
            maybe = slow_point(value)
            if maybe is None:
                return fallback
            point = maybe
        for edge, resolution in table:
            if point < edge:
                return resolution
        return last

    return split


def _cumulative(arms: list[tuple[int, Resolution]]) -> list[int]:
    out, running = [], 0
    for units, _ in arms:
        running += units
        out.append(running)
    return out


def _scheme_split(
    point: Callable[[Any], int | None],
    getter: Callable[[Mapping[str, Any]], Any],
    edges: list[int],
    arms: list[tuple[int, Resolution]],
    fallback: Resolution,
) -> Callable[[Mapping[str, Any]], Resolution]:
    table = tuple((edge, resolution) for edge, (units, resolution) in zip(edges, arms, strict=True) if units)
    last = table[-1][1]

    def split(ctx: Mapping[str, Any]) -> Resolution:
        bucket = point(getter(ctx))
        if bucket is None:
            return fallback
        for edge, resolution in table:
            if bucket < edge:
                return resolution
        return last

    return split


# --- flags --------------------------------------------------------------------------------


def compile_static(key: str, value: Any, source: str | None = None) -> CompiledFlag:
    """A flag that serves ``value`` to everyone (reason STATIC)."""
    if isinstance(value, bool):
        variant = "on" if value else "off"
        variants: Mapping[str, Any] = BOOLEAN_VARIANTS
    else:
        variant = str(value)
        variants = {variant: value}
    return constant_flag(key, value, variant, variants, Reason.STATIC, source)


def constant_flag(
    key: str,
    value: Any,
    variant: str,
    variants: Mapping[str, Any],
    reason: Reason,
    source: str | None = None,
) -> CompiledFlag:
    """A flag that serves ``value`` (as ``variant``) to everyone with ``reason``."""
    resolution: Resolution = (value, variant, reason, None)
    resolver: Resolver = lambda ctx, table: resolution  # noqa: E731 - wrapped below when mutable
    return CompiledFlag(
        key=key,
        resolve=_fresh_copies(resolver) if isinstance(value, _CONTAINERS) else resolver,
        variants=variants,
        default_variant=variant,
        definition=None,
        fingerprint=(str(reason), variant, type(value).__name__, repr(value)),
        source=source,
    )


class _FlagBuilder:
    __slots__ = ("clock", "conditions", "flag", "issues", "key", "path", "resolutions", "variants")

    def __init__(
        self, key: str, flag: FlagDefinition, conditions: ConditionCompiler, issues: Issues, clock: Clock
    ) -> None:
        self.clock = clock
        self.key = key
        self.flag = flag
        self.conditions = conditions
        self.issues = issues
        self.path: Path = ("features", key)
        self.resolutions: dict[tuple[str, Reason, str | None], Resolution] = {}
        self.variants: Mapping[str, Any] = BOOLEAN_VARIANTS

    def resolution(self, variant: str, reason: Reason, rule: str | None) -> Resolution:
        ident = (variant, reason, rule)
        if ident not in self.resolutions:
            if variant == CODE_DEFAULT_NAME:
                # The caller's default: no variant; reason DEFAULT (as flagd reports a null
                # variant) unless the flag is off or a prerequisite failed.
                kept = reason if reason in (Reason.DISABLED, Reason.PREREQUISITE_FAILED) else Reason.DEFAULT
                self.resolutions[ident] = (CODE_DEFAULT, None, kept, rule)
            else:
                self.resolutions[ident] = (self.variants[variant], variant, reason, rule)
        return self.resolutions[ident]

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
        resolver = self.resolver(default, rules)
        if flag.variants is not None and any(isinstance(v, _CONTAINERS) for v in flag.variants.values()):
            resolver = _fresh_copies(resolver)
        segments_used = tuple(sorted(self.conditions.used)) if self.conditions.used else ()
        return CompiledFlag(
            key=self.key,
            resolve=resolver,
            variants=self.variants,
            default_variant=default,
            definition=flag,
            fingerprint=(flag, tuple(self.conditions.segments.get(s) for s in segments_used)),
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

    def rule(
        self, index: int, rule: Rule, default: str
    ) -> tuple[Predicate | None, Resolution | None, Callable[..., Resolution] | None]:
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
        weights = _weights(rule.serve, (*path, "serve"), self.issues)
        if weights is None:
            return pred, None, None
        unknown = [name for name, _ in weights if not self.known(name)]
        for name in unknown:
            self._unknown_variant(name, (*path, "serve", name))
        if unknown:
            return pred, None, None
        arms = [(units, self.resolution(name, Reason.SPLIT, label)) for name, units in weights]
        fallback = self.resolution(default, Reason.DEFAULT, label)
        flag = self.flag
        attribute = None if isinstance(flag.bucket_by, BucketInput) else flag.bucket_by
        plain = rule.bucketing is None and flag.bucketing is None and attribute == flag.bucket_by

        def split(weights: list[tuple[int, Resolution]]) -> Callable[[Mapping[str, Any]], Resolution] | None:
            if plain:
                return _split_resolver(flag.salt or self.key, attribute, weights, fallback)
            return self.scheme_split(rule, path, weights, fallback)

        if rule.ramp is not None:
            return pred, None, self.ramp(rule.ramp, path, arms, split)
        return pred, None, split(arms)

    def scheme_split(
        self, rule: Rule, path: Path, arms: list[tuple[int, Resolution]], fallback: Resolution
    ) -> Callable[[Mapping[str, Any]], Resolution] | None:
        """A split with another bucketing scheme or an explicit input (see flagkit.bucketers)."""
        flag = self.flag
        where = (*path, "bucketing") if rule.bucketing is not None else (*self.path, "bucketing")
        try:
            scheme = bucketers.scheme_from(rule.bucketing or flag.bucketing, self.key, flag.salt)
        except ValueError as exc:
            self.issues.add(str(exc), where)
            return None
        try:
            edges = bucketers.scaled_edges(_cumulative(arms), scheme.scale, TOTAL_WEIGHT)
        except ValueError as exc:
            self.issues.add(f"{exc} ({scheme.name} bucketing)", (*path, "serve"))
            return None
        bucket_by = flag.bucket_by
        salted = True
        if isinstance(bucket_by, BucketInput):
            try:
                template = bucketers.parse_template(bucket_by.input, self.key)
            except ValueError as exc:
                self.issues.add(str(exc), (*self.path, "bucket_by", "input"))
                return None
            getter = bucketers.input_getter(template, attribute_getter)
            salted = bucket_by.salted
        else:
            getter = attribute_getter(bucket_by) if bucket_by is not None else _default_bucket_value
        return _scheme_split(bucketers.point_function(scheme, salted=salted), getter, edges, arms, fallback)

    def ramp(
        self,
        ramp: Ramp,
        path: Path,
        arms: list[tuple[int, Resolution]],
        split: Callable[[list[tuple[int, Resolution]]], Callable[[Mapping[str, Any]], Resolution] | None],
    ) -> Callable[..., Resolution] | None:
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
        rules: list[tuple[Predicate | None, Resolution | None, Callable[..., Resolution] | None]],
    ) -> Resolver:
        flag = self.flag
        off = flag.off_variant if flag.off_variant is not None else default
        if not flag.enabled:
            disabled = self.resolution(off, Reason.DISABLED, None)
            return lambda ctx, table: disabled
        no_match = self.resolution(default, Reason.DEFAULT if rules else Reason.STATIC, None)
        steps = tuple(rules)

        def walk(ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
            for pred, fixed, split in steps:
                if pred is None or pred(ctx):
                    if split is None:
                        return fixed  # type: ignore[return-value]  # fixed is set when split is None
                    return split(ctx)
            return no_match

        if not flag.requires:
            return walk
        needs = tuple(requirements(flag))
        failed = self.resolution(off, Reason.PREREQUISITE_FAILED, None)
        if all(want is True for _, want in needs):  # the common form: plain keys, "is on"
            keys = tuple(key for key, _ in needs)

            def gated(ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
                for key in keys:
                    resolve = table.get(key)
                    if resolve is None or not resolve(ctx, table)[0]:
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


Want = bool | frozenset[str]
"""What a prerequisite asks of its flag: on (True), off (False), or one of these variants."""
_NOT_SERVING = (Reason.DISABLED, Reason.PREREQUISITE_FAILED)


def prerequisite_holds(resolution: Resolution, want: Want) -> bool:
    """Whether a prerequisite flag's resolution satisfies ``want``.

    On means a truthy value; off is its negation (a disabled flag serving ``false`` is off).
    A variant requirement also needs the flag to be serving, as in LaunchDarkly and Unleash:
    a disabled flag, or one whose own prerequisites failed, satisfies no variant requirement.
    """
    if want is True:
        return bool(resolution[0]) and resolution[0] is not CODE_DEFAULT
    if want is False:
        return not resolution[0] or resolution[0] is CODE_DEFAULT
    return resolution[1] in want and resolution[2] not in _NOT_SERVING


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
    doc: FlagDocument, source: str | None = None, *, clock: Clock | None = None
) -> tuple[dict[str, CompiledFlag], list[ConfigIssue], set[str]]:
    """Compile every flag of a validated document.

    Args:
        doc: The validated document.
        source: Where it came from (for errors).
        clock: Seconds since the epoch, read by ramped splits on each evaluation
            (default: ``time.time``); tests inject a fake one.

    Returns:
        ``(flags, issues, used_segments)``; the document is valid only when ``issues`` is empty.
    """
    issues = Issues(source)
    _check_requires(doc, issues)
    conditions = ConditionCompiler(doc.segments, issues, numeric_strings=doc.options.numeric_strings)
    flags: dict[str, CompiledFlag] = {}
    used_segments: set[str] = set()
    for key, flag in doc.features.items():
        if isinstance(flag, FlagDefinition):
            conditions.used = set()
            compiled = _FlagBuilder(key, flag, conditions, issues, clock or time.time).build(source)
            used_segments |= conditions.used
            if compiled is not None:
                flags[key] = compiled
        elif (problem := value_problem(flag, 0)) is not None:  # Python data; the readers refuse it
            issues.add(problem, ("features", key))
        else:
            flags[key] = compile_static(key, flag, source)
    for name in doc.segments:
        if name not in conditions.compiled and name not in used_segments:
            conditions.segment(name, ("segments", name))  # still validate unused segments
    return flags, issues.items, used_segments
