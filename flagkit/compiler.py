"""Validated definitions → compiled flags: plain closures over pre-parsed operands.

A compiled flag is a *resolver*: ``resolver(context, table) -> Resolution``, where ``table``
maps flag keys to resolvers (for prerequisites) and a :data:`Resolution` is a tuple
``(value, variant, reason, rule)`` allocated here, at load time, so the hot path only
returns one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import mmh3

from .bucketing import _TEXT_HEADS, cbor_encode, encode_pair_prefix
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
from .errors import ConfigIssue
from .evaluation import Reason
from .schema import FlagDefinition, FlagDocument, Rule

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
]

Resolution = tuple[Any, str, Reason, str | None]
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

    def slow_point(value: Any) -> int | None:
        """Bucket of a non-ASCII-fast value (non-str, long or unencodable strings); None = no bucket."""
        if value is None or value is True or value is False:
            return None
        try:
            data = prefix + cbor_encode(value)
        except ValueError:
            return None
        point: int = (hash32(data, 0, False) * scale) >> 32
        return point

    # The common case is specialised: the default attributes, or a plain attribute name,
    # and string values shorter than 256 UTF-8 bytes.
    getter = attribute_getter(attribute) if attribute is not None else _default_bucket_value

    def split_any(ctx: Mapping[str, Any]) -> Resolution:
        point = slow_point(getter(ctx))
        if point is None:
            return fallback
        for edge, resolution in table:
            if point < edge:
                return resolution
        return last

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
    __slots__ = ("conditions", "flag", "issues", "key", "path", "resolutions", "variants")

    def __init__(self, key: str, flag: FlagDefinition, conditions: ConditionCompiler, issues: Issues) -> None:
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
            self.resolutions[ident] = (self.variants[variant], variant, reason, rule)
        return self.resolutions[ident]

    def build(self, source: str | None) -> CompiledFlag | None:
        flag = self.flag
        before = len(self.issues.items)
        self.variants = flag.variants if flag.variants is not None else BOOLEAN_VARIANTS
        if not self.variants:
            self.issues.add("`variants` must not be empty", (*self.path, "variants"))
            return None
        self._check_nesting("variants", flag.variants)
        self._check_nesting("metadata", flag.metadata)
        default = flag.default
        if default is None:
            if flag.variants is None:
                default = "off"
            else:
                self.issues.add("`default` is required when `variants` are given", self.path)
                return None
        if default not in self.variants:
            self._unknown_variant(default, (*self.path, "default"))
            default = next(iter(self.variants))  # keep checking the rules; the flag is rejected
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

    def _check_nesting(self, field: str, values: Mapping[str, Any] | None) -> None:
        """Values nest at most as deep as the YAML reader allows and hold only finite numbers
        (JSON and Python data too)."""
        for name, value in (values or {}).items():
            if isinstance(value, dict | list | float | int):
                path = (*self.path, field, name)
                problem = value_problem(value, MAX_CONDITION_DEPTH - len(path))
                if problem is not None:
                    self.issues.add(problem, path)

    def _unknown_variant(self, name: str, path: Path) -> None:
        known = ", ".join(self.variants)
        self.issues.add(f"{name!r} is not a variant of this flag (variants: {known})", path)

    def rule(
        self, index: int, rule: Rule, default: str
    ) -> tuple[Predicate | None, Resolution | None, Callable[..., Resolution] | None]:
        path = (*self.path, "rules", index)
        label = rule.name or f"rules[{index}]"
        pred = None
        if rule.when is not None:
            pred = self.conditions.condition(rule.when, (*path, "when"))
        if isinstance(rule.serve, str):
            if rule.serve not in self.variants:
                self._unknown_variant(rule.serve, (*path, "serve"))
                return pred, None, None
            return pred, self.resolution(rule.serve, Reason.TARGETING_MATCH, label), None
        weights = _weights(rule.serve, (*path, "serve"), self.issues)
        if weights is None:
            return pred, None, None
        unknown = [name for name, _ in weights if name not in self.variants]
        for name in unknown:
            self._unknown_variant(name, (*path, "serve", name))
        if unknown:
            return pred, None, None
        arms = [(units, self.resolution(name, Reason.SPLIT, label)) for name, units in weights]
        fallback = self.resolution(default, Reason.DEFAULT, label)
        split = _split_resolver(self.flag.salt or self.key, self.flag.bucket_by, arms, fallback)
        return pred, None, split

    def resolver(
        self,
        default: str,
        rules: list[tuple[Predicate | None, Resolution | None, Callable[..., Resolution] | None]],
    ) -> Resolver:
        flag = self.flag
        if not flag.enabled:
            disabled = self.resolution(default, Reason.DISABLED, None)
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
        requires = tuple(flag.requires)
        failed = self.resolution(default, Reason.PREREQUISITE_FAILED, None)

        def gated(ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
            for key in requires:
                resolve = table.get(key)
                if resolve is None or not resolve(ctx, table)[0]:
                    return failed
            return walk(ctx, table)

        return gated


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
            graph[key] = flag.requires
            for i, req in enumerate(flag.requires):
                if req not in doc.features:
                    issues.add(f"requires unknown flag {req!r}", ("features", key, "requires", i))
                elif req == key:
                    issues.add("a flag cannot require itself", ("features", key, "requires", i))
    # Depth-first, with an explicit stack: a chain of thousands of flags must not recurse.
    state: dict[str, int] = {}  # 1 = visiting, 2 = done
    depth: dict[str, int] = {}  # longest chain of requires below a flag, itself included
    calls: dict[str, int] = {}  # flag evaluations one evaluation of it triggers (capped)
    cyclic = False
    for root in graph:
        if root in state:
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
                elif state.get(nxt) is None and nxt in graph:
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


def compile_document(
    doc: FlagDocument, source: str | None = None
) -> tuple[dict[str, CompiledFlag], list[ConfigIssue], set[str]]:
    """Compile every flag of a validated document.

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
            compiled = _FlagBuilder(key, flag, conditions, issues).build(source)
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
