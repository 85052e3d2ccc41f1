"""Why does this context get this variant? A step-by-step trace of one flag evaluation.

The trace is built from the same pieces the compiler uses (``compile_condition`` for every
condition, :func:`flagkit.bucketing.bucket` for splits), and the final answer is always the one
the real compiled resolver gives: :func:`explain` runs both and records whether they agree in
:attr:`Explanation.consistent` (a test keeps that true).

It knows nothing of the client: flags, resolvers and documents come in as arguments
(:meth:`flagkit.Flags.explain` passes its snapshot's; :func:`explain_in` a loaded flag set's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from .. import flagset as flagset_module
from .._engine import operators, schemes
from .._engine.compiler import (
    DEFAULT_BUCKET_ATTRIBUTES,
    TOTAL_WEIGHT,
    WEIGHT_SCALE,
    CompiledFlag,
    Resolver,
    attribute_getter,
    compile_condition,
    prerequisite_holds,
    requirements,
    switched_off_variant,
)
from .._engine.ramps import rule_schedule
from ..bucketing import bucket
from ..document.definitions import DocumentSpec
from ..document.schema import BucketInput, FlagDefinition, Rule
from ..evaluation import CODE_DEFAULT_NAME, ErrorCode, Reason
from ..flagset import FlagSet
from .trace import ConditionTrace, Explanation, PrerequisiteTrace, RuleTrace, SplitTrace

__all__ = [
    "Definitions",
    "attribute_value",
    "definitions_of",
    "explain",
    "explain_in",
    "failed",
    "failed_evaluation",
    "resolvers",
]

Outcome = tuple[str | None, Reason, str | None]
"""``(variant, reason, rule)``: what a trace predicts and a resolver served."""


class Definitions(NamedTuple):
    """What a flag's conditions read from the document that defined it.

    Attributes:
        segments: Segment name → condition, as written.
        numeric_strings: The document's ``options.numeric_strings``.
    """

    segments: Mapping[str, Any]
    numeric_strings: bool = False


NO_DOCUMENT = Definitions({})
"""For flags built without a document: no segments, default options."""


def definitions_of(spec: DocumentSpec | None) -> Definitions:
    """The segments and options of a loaded document (``None``: :data:`NO_DOCUMENT`).

    The segments and one option, not the whole document re-derived (see
    :mod:`flagkit.document.definitions`).
    """
    if spec is None:
        return NO_DOCUMENT
    return Definitions(spec.segments(), spec.numeric_strings)


def attribute_value(context: Mapping[str, Any], name: str) -> Any:
    """Read an attribute the way conditions do: ``now``, flat keys, then dotted paths.

    Returns ``None`` when the attribute is absent.
    """
    return attribute_getter(name, flagset_module.now)(context)


class _Resolvers(Mapping[str, Resolver]):
    """``{key: flag.resolve}`` read through, so explaining one flag of many builds no table."""

    __slots__ = ("_flags",)

    def __init__(self, flags: Mapping[str, CompiledFlag]) -> None:
        self._flags = flags

    def __getitem__(self, key: str) -> Resolver:
        return self._flags[key].resolve

    def __iter__(self) -> Iterator[str]:
        return iter(self._flags)

    def __len__(self) -> int:
        return len(self._flags)


def resolvers(flags: Mapping[str, CompiledFlag]) -> Mapping[str, Resolver]:
    """The resolver table of ``flags`` (each flag's own ``resolve``: no observers), as a view."""
    return _Resolvers(flags)


def explain(
    flag: CompiledFlag,
    context: Mapping[str, Any],
    table: Mapping[str, Resolver],
    *,
    flags: Mapping[str, CompiledFlag],
    definitions: Callable[[str], Definitions | None],
) -> Explanation:
    """Evaluate ``flag`` for ``context`` with the real resolver and trace every step.

    Args:
        flag: The flag as served (a test override, QA override or tripped guard included).
        context: The evaluation context, already merged with any ambient context.
        table: Flag key → resolver, what the flag's prerequisites are evaluated with.
        flags: Flag key → compiled flag, to trace the prerequisites.
        definitions: Flag key → the segments and options of the document that defined it;
            ``None`` when that document is no longer at hand (the flag is then ``untraced``).

    Never raises: when the resolver fails (a context that is not a mapping) the result has
    ``kind="error"``, reason ``ERROR`` and an ``error_code``, as :meth:`flagkit.Flags.evaluate`
    would report; when only the trace fails, the real answer comes back ``untraced`` and
    not ``consistent`` (a bug to report).
    """
    try:
        return _Explainer(flags, table, definitions, context).flag(flag.key, flag)
    except Exception as exc:
        try:
            value, variant, reason, rule = flag.resolve(context, table)
        except Exception:
            return failed_evaluation(flag.key, flag.default_variant, exc)
        return Explanation(
            flag.key, value, variant, reason, rule, flag.default_variant, "untraced", consistent=False
        )


def failed(key: str, default_variant: str | None, code: ErrorCode, message: str) -> Explanation:
    """The explanation of an evaluation that served nothing (reason ``ERROR``, no trace)."""
    return Explanation(
        key, None, None, Reason.ERROR, None, default_variant, "error", error_code=code, error_message=message
    )


def failed_evaluation(key: str, default_variant: str | None, exc: Exception) -> Explanation:
    """:func:`failed` for an evaluation that raised ``exc``: the error code and message
    :meth:`flagkit.Flags.evaluate` gives (the exception's type only: no context values)."""
    code = ErrorCode.PARSE_ERROR if isinstance(exc, AttributeError | TypeError) else ErrorCode.GENERAL
    message = f"evaluation failed: {type(exc).__name__} (is the context a mapping?)"
    return failed(key, default_variant, code, message)


def explain_served(
    key: str,
    flags: Mapping[str, CompiledFlag],
    flagsets: Sequence[FlagSet],
    context: Callable[[], Mapping[str, Any]],
) -> Explanation:
    """:meth:`flagkit.Flags.explain`: trace ``key`` among the ``flags`` a client serves.

    ``flagsets`` are the providers' flag sets in precedence order: each flag is traced with the
    segments of the document that defined the version served (``None`` when no provider's
    current document holds that version, e.g. an override). ``context`` merges the caller's
    context (it raises for one that is not a mapping: that is a failed evaluation). Never raises.
    """
    flag = flags.get(key)
    if flag is None:
        return failed(key, None, ErrorCode.FLAG_NOT_FOUND, f"flag {key!r} is not defined")

    def definitions(name: str) -> Definitions | None:
        served = flags[name]  # the document that defined this version of the flag
        for flagset in flagsets:
            if name in flagset.flags:
                same = flagset.flags[name].fingerprint == served.fingerprint
                return definitions_of(flagset.spec) if same else None
        return None

    try:
        ctx = context()
    except Exception as exc:  # a context that is not a mapping
        return failed_evaluation(key, flag.default_variant, exc)
    return explain(flag, ctx, resolvers(flags), flags=flags, definitions=definitions)


def explain_in(flagset: FlagSet, key: str, context: Mapping[str, Any]) -> Explanation:
    """:func:`explain` the flag ``key`` of one loaded flag set (its document, its flags).

    Raises:
        KeyError: The flag is not defined in ``flagset``.
    """
    found = definitions_of(flagset.spec)
    return explain(
        flagset.flags[key],
        context,
        resolvers(flagset.flags),
        flags=flagset.flags,
        definitions=lambda _key: found,
    )


class _Explainer:
    def __init__(
        self,
        flags: Mapping[str, CompiledFlag],
        table: Mapping[str, Resolver],
        definitions: Callable[[str], Definitions | None],
        context: Mapping[str, Any],
    ) -> None:
        self.flags = flags
        self.table = table
        self.definitions = definitions
        self.context = context
        self.segments: Mapping[str, Any] = {}
        self.numeric_strings = False

    def flag(self, key: str, compiled: CompiledFlag | None = None) -> Explanation:
        compiled = compiled if compiled is not None else self.flags[key]
        value, variant, reason, rule = compiled.resolve(self.context, self.table)
        base: dict[str, Any] = {
            "key": key,
            "value": value,
            "variant": variant,
            "reason": reason,
            "rule": rule,
        }
        base["default_variant"] = default = compiled.default_variant
        served = (variant, reason, rule)
        if reason in (Reason.OVERRIDE, Reason.QA_OVERRIDE):
            return Explanation(**base, kind="override", consistent=compiled.spec is None)
        definition = compiled.definition
        if definition is None:
            return Explanation(**base, kind="static", consistent=reason is Reason.STATIC)
        off = switched_off_variant(compiled)
        if reason is Reason.GUARD_TRIPPED:
            ok = served == (None if off == CODE_DEFAULT_NAME else off, Reason.GUARD_TRIPPED, None)
            return Explanation(**base, kind="guard", consistent=ok)
        if not definition.enabled:
            ok = served == _outcome(off, Reason.DISABLED, None)
            return Explanation(**base, kind="disabled", consistent=ok)
        prerequisites: list[PrerequisiteTrace] = []
        expected: Outcome | None = None
        for required, want in requirements(definition):
            inner = self.flag(required) if required in self.flags else None
            ok = inner is not None and prerequisite_holds(
                (inner.value, inner.variant, inner.reason, inner.rule), want
            )
            prerequisites.append(PrerequisiteTrace(required, inner.value if inner else None, ok, inner, want))
            if not ok:
                expected = _outcome(off, Reason.PREREQUISITE_FAILED, None)
                break
        # The prerequisites above traced their own documents; the rules read this flag's.
        found = self.definitions(key)
        if found is None:
            return Explanation(**base, kind="untraced", prerequisites=tuple(prerequisites))
        self.segments, self.numeric_strings = found
        rules: list[RuleTrace] = []
        for index, item in enumerate(definition.rules):
            if expected is not None:
                label = item.name or f"rules[{index}]"
                rules.append(RuleTrace(index, label, "not reached", serve=_fixed(item)))
                continue
            trace, expected = self.rule(key, definition, default, index, item)
            rules.append(trace)
        if expected is None:
            expected = _outcome(default, Reason.DEFAULT if definition.rules else Reason.STATIC, None)
        return Explanation(
            **base,
            kind="rules",
            prerequisites=tuple(prerequisites),
            rules=tuple(rules),
            consistent=expected == served,
        )

    def rule(
        self, key: str, definition: FlagDefinition, default: str, index: int, item: Rule
    ) -> tuple[RuleTrace, Outcome | None]:
        label = item.name or f"rules[{index}]"
        condition = None
        if item.when is not None:
            condition = self.condition(item.when)
            if not condition.matched:
                return RuleTrace(index, label, "no match", condition, _fixed(item)), None
        if isinstance(item.serve, str):
            outcome = _outcome(item.serve, Reason.TARGETING_MATCH, label)
            return RuleTrace(index, label, "matched", condition, item.serve), outcome
        serve, ramp = item.serve, None
        schedule = rule_schedule(item)
        if schedule is not None:
            first, second = serve
            now = flagset_module.now()
            serve, ramp = schedule.weights(first, second, now), schedule.state(now)
        if (
            item.bucketing is None
            and definition.bucketing is None
            and not isinstance(definition.bucket_by, BucketInput)
        ):
            salt = key if definition.salt is None else definition.salt
            split = self.split(salt, definition.bucket_by, serve)
        else:
            split = self.scheme_split(key, definition, item.model_copy(update={"serve": serve}))
        if ramp is not None:
            split = replace(split, ramp=ramp)
        outcome = (
            _outcome(default, Reason.DEFAULT, label)
            if split.variant is None
            else _outcome(split.variant, Reason.SPLIT, label)
        )
        return RuleTrace(index, label, "matched", condition, None, split), outcome

    def bucket_value(self, bucket_by: str | None) -> tuple[str, Any]:
        """The bucketing attribute's name (as shown) and its value."""
        if bucket_by is not None:
            return bucket_by, attribute_value(self.context, bucket_by)
        first, second = DEFAULT_BUCKET_ATTRIBUTES
        value = self.context.get(first)
        if value is not None:
            return first, value
        value = self.context.get(second)
        return (second if value is not None else f"{first} or {second}"), value

    def split(self, salt: str, bucket_by: str | None, serve: Mapping[str, float]) -> SplitTrace:
        attribute, value = self.bucket_value(bucket_by)
        ranges: list[tuple[str, int, int]] = []
        start = 0
        for name, weight in serve.items():
            end = start + round(weight * WEIGHT_SCALE)
            ranges.append((name, start, end))
            start = end
        point: int | None = None
        if value is not None and not isinstance(value, bool):
            try:
                point = bucket(salt, value, TOTAL_WEIGHT)
            except ValueError:
                point = None
        chosen = None
        if point is not None:
            live = [r for r in ranges if r[2] > r[1]]
            chosen = next((name for name, _, end in live if point < end), live[-1][0])
        return SplitTrace(attribute, value, salt, TOTAL_WEIGHT, point, tuple(ranges), chosen)

    def scheme_split(self, key: str, definition: FlagDefinition, item: Rule) -> SplitTrace:
        """A split with another bucketing scheme or an explicit input, through flagkit._engine.schemes."""
        assert isinstance(item.serve, dict)  # only splits get here
        scheme = schemes.scheme_from(item.bucketing or definition.bucketing, key, definition.salt)
        bucket_by = definition.bucket_by
        salted = True
        if isinstance(bucket_by, BucketInput):
            template = schemes.parse_template(bucket_by.input, key)
            attribute = f"input {bucket_by.input!r}"
            getter = schemes.input_getter(template, lambda name: attribute_getter(name, flagset_module.now))
            value = getter(self.context)
            salted = bucket_by.salted
        else:
            attribute, value = self.bucket_value(bucket_by)
        units = [round(weight * WEIGHT_SCALE) for weight in item.serve.values()]
        running = [sum(units[: i + 1]) for i in range(len(units))]
        ends = schemes.scaled_edges(running, scheme.scale, TOTAL_WEIGHT)
        starts = [0, *ends[:-1]]
        ranges = tuple(zip(item.serve, starts, ends, strict=True))
        point = schemes.point_function(scheme, salted=salted)(value)
        chosen = None
        if point is not None:
            live = [r for r in ranges if r[2] > r[1]]
            chosen = next((name for name, _, end in live if point < end), live[-1][0])
        salt = scheme.describe() if scheme.name != "flagd" else scheme.salt
        if scheme.name == "flagd" and not salted:
            salt = "(none: the input is hashed as given)"
        return SplitTrace(attribute, value, salt, scheme.scale, point, ranges, chosen, scheme=scheme.name)

    def condition(self, cond: Mapping[str, Any]) -> ConditionTrace:
        nodes = [self.entry(name, operand) for name, operand in cond.items()]
        if len(nodes) == 1:
            return nodes[0]
        return ConditionTrace("all", all(n.matched for n in nodes), children=tuple(nodes))

    def entry(self, name: str, operand: Any) -> ConditionTrace:
        if name in ("all", "any"):
            children = tuple(self.condition(item) for item in operand)
            matched = all(c.matched for c in children) if name == "all" else any(c.matched for c in children)
            return ConditionTrace(name, matched, children=children)
        if name == "not":
            inner = self.condition(operand)
            return ConditionTrace("not", not inner.matched, children=(inner,))
        if name == "segment":
            inner = self.condition(self.segments[operand])
            return ConditionTrace("segment", inner.matched, segment=operand, children=(inner,))
        return self.attribute(name, operand)

    def attribute(self, name: str, operand: Any) -> ConditionTrace:
        predicate = compile_condition(
            {name: operand}, self.segments, numeric_strings=self.numeric_strings, clock=flagset_module.now
        )
        if isinstance(predicate, list):  # pragma: no cover - the document was validated at load
            raise ValueError(f"invalid condition on {name!r}: {predicate[0].message}")
        matched = predicate(self.context)
        value = attribute_value(self.context, name)
        present = value is not None
        if isinstance(operand, dict):
            if len(operand) == 1:
                ((op, arg),) = operand.items()
                return ConditionTrace("attribute", matched, name, value, present, op, arg)
            children = tuple(
                ConditionTrace(
                    "operator",
                    operators.make_operator(
                        op, arg, numeric_strings=self.numeric_strings, clock=flagset_module.now
                    )(value),
                    *(name, value, present, op, arg),
                )
                for op, arg in operand.items()
            )
            return ConditionTrace(
                "attribute", matched, name, value, present, "all", operand, children=children
            )
        op = "in" if isinstance(operand, list) else "eq"
        return ConditionTrace("attribute", matched, name, value, present, op, operand)


def _outcome(variant: str, reason: Reason, rule: str | None) -> Outcome:
    """What the resolver returns for serving ``variant``: ``code_default`` has no variant and
    reason DEFAULT, unless the flag is off or a prerequisite failed."""
    if variant == CODE_DEFAULT_NAME:
        kept = reason if reason in (Reason.DISABLED, Reason.PREREQUISITE_FAILED) else Reason.DEFAULT
        return None, kept, rule
    return variant, reason, rule


def _fixed(rule: Rule) -> str | None:
    return rule.serve if isinstance(rule.serve, str) else None
