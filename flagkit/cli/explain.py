"""Why does this context get this variant? A step-by-step trace of one flag evaluation.

The trace is built from the same pieces the compiler uses (``compile_condition`` for every
condition, :func:`flagkit.bucketing.bucket` for splits), and the final answer is always the one
the real compiled resolver gives: :func:`explain` runs both and records whether they agree in
:attr:`Explanation.consistent` (a test keeps that true).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .. import flagset as flagset_module
from .._engine import operators, schemes
from .._engine.compiler import (
    DEFAULT_BUCKET_ATTRIBUTES,
    TOTAL_WEIGHT,
    WEIGHT_SCALE,
    CompiledFlag,
    attribute_getter,
    compile_condition,
    prerequisite_holds,
    requirements,
    switched_off_variant,
)
from .._engine.ramps import RampState, ramps_of, rule_schedule
from ..bucketing import bucket
from ..document.reader import line_for, locate_lines
from ..document.schema import BucketInput, FlagDefinition, Rule
from ..errors import format_path
from ..evaluation import CODE_DEFAULT, CODE_DEFAULT_NAME, Reason
from ..flagset import FlagSet
from ..jsonsafe import dumps, to_json_safe

__all__ = [
    "ConditionTrace",
    "Explanation",
    "PrerequisiteTrace",
    "RuleTrace",
    "SplitTrace",
    "attribute_value",
    "explain",
    "ramp_lines",
    "render_explanation",
    "show",
]

_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class ConditionTrace:
    """One node of a condition, with what it saw and whether it matched.

    Attributes:
        kind: ``attribute``, ``operator`` (one operator of a multi-operator mapping), ``all``,
            ``any``, ``not`` or ``segment``.
        matched: Whether this node matched the context.
        attribute: The context attribute read (``attribute``/``operator`` nodes).
        value: The value seen (``None`` when absent).
        present: Whether the attribute was present in the context.
        operator: ``eq``, ``in`` or the operator written (``attribute``/``operator`` nodes).
        operand: The operand as written.
        segment: The segment name (``segment`` nodes).
        children: Sub-conditions.
    """

    kind: str
    matched: bool
    attribute: str | None = None
    value: Any = None
    present: bool = False
    operator: str | None = None
    operand: Any = None
    segment: str | None = None
    children: tuple[ConditionTrace, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (empty ones left out)."""
        out: dict[str, Any] = {"kind": self.kind, "matched": self.matched}
        if self.attribute is not None:
            out.update(attribute=self.attribute, value=_jsonable(self.value), present=self.present)
        if self.operator is not None:
            out.update(operator=self.operator, operand=_jsonable(self.operand))
        if self.segment is not None:
            out["segment"] = self.segment
        if self.children:
            out["children"] = [child.as_dict() for child in self.children]
        return out


@dataclass(frozen=True, slots=True)
class SplitTrace:
    """How a percentage split placed the context.

    Attributes:
        attribute: The bucketing attribute read (``bucket_by``, else ``targeting_key``/``user_id``).
        value: Its value (``None`` when absent).
        salt: The salt hashed with it (the flag's ``salt`` or key).
        total_weight: Number of buckets (100,000: 0.001 % each).
        bucket: The context's bucket in ``[0, total_weight)``, ``None`` when it cannot be bucketed.
        ranges: ``(variant, start, end)`` per arm, half-open, in buckets, in the order written.
        variant: The variant the bucket falls in (``None`` when not bucketed).
        ramp: Where the rule's ramp stands now (the ranges are the current step's), if any.
        scheme: The bucketing scheme (``flagd``, ``unleash``, ``launchdarkly``); for the last
            two, ``salt`` describes what is hashed.
    """

    attribute: str
    value: Any
    salt: str
    total_weight: int
    bucket: int | None
    ranges: tuple[tuple[str, int, int], ...]
    variant: str | None
    ramp: RampState | None = None
    scheme: str = "flagd"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "attribute": self.attribute,
            "value": _jsonable(self.value),
            "salt": self.salt,
            "total_weight": self.total_weight,
            "bucket": self.bucket,
            "ranges": [{"variant": v, "start": a, "end": b} for v, a, b in self.ranges],
            "variant": self.variant,
            **({"ramp": self.ramp.as_dict()} if self.ramp is not None else {}),
            "scheme": self.scheme,
        }


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """One rule of the flag and what happened to it.

    Attributes:
        index: Position in ``rules``.
        label: The rule's name, or ``rules[i]``.
        status: ``matched``, ``no match`` or ``not reached`` (an earlier rule matched).
        condition: The trace of ``when`` (``None`` for a rule without ``when``, or not reached).
        serve: The variant served by a fixed rule, or ``None`` for a split.
        split: The split trace when the rule matched and serves a split.
    """

    index: int
    label: str
    status: str
    condition: ConditionTrace | None = None
    serve: str | None = None
    split: SplitTrace | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "index": self.index,
            "label": self.label,
            "status": self.status,
            "condition": self.condition.as_dict() if self.condition else None,
            "serve": self.serve,
            "split": self.split.as_dict() if self.split else None,
        }


@dataclass(frozen=True, slots=True)
class PrerequisiteTrace:
    """A flag listed in ``requires`` and whether it held.

    Attributes:
        key: The required flag.
        value: The value it served for this context.
        ok: Whether the prerequisite holds.
        explanation: The required flag's own trace.
        want: What was required: ``True`` (on), ``False`` (off) or the variant names.
    """

    key: str
    value: Any
    ok: bool
    explanation: Explanation | None = None
    want: bool | frozenset[str] = True


@dataclass(frozen=True, slots=True)
class Explanation:
    """The result of one evaluation and how it was reached.

    Attributes:
        key: The flag key.
        value: The value served (from the real compiled resolver).
        variant: The variant served.
        reason: Why.
        rule: The matching rule's label, if any.
        default_variant: The flag's default variant.
        kind: ``static``, ``disabled`` or ``rules``.
        prerequisites: The ``requires`` checks, in order (stops at the first failure).
        rules: Every rule with its status.
        consistent: True when the trace leads to the same result as the real resolver.
    """

    key: str
    value: Any
    variant: str | None
    reason: Reason
    rule: str | None
    default_variant: str
    kind: str
    prerequisites: tuple[PrerequisiteTrace, ...] = ()
    rules: tuple[RuleTrace, ...] = ()
    consistent: bool = True

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "key": self.key,
            "value": _jsonable(self.value),
            "variant": self.variant,
            "reason": str(self.reason),
            "rule": self.rule,
            "default_variant": self.default_variant,
            "kind": self.kind,
            "prerequisites": [
                {
                    "key": p.key,
                    "value": _jsonable(p.value),
                    "want": p.want if isinstance(p.want, bool) else sorted(p.want),
                    "ok": p.ok,
                    "explanation": p.explanation.as_dict() if p.explanation else None,
                }
                for p in self.prerequisites
            ],
            "rules": [rule.as_dict() for rule in self.rules],
            "consistent": self.consistent,
        }


def attribute_value(context: Mapping[str, Any], name: str) -> Any:
    """Read an attribute the way conditions do: ``now``, flat keys, then dotted paths.

    Returns ``None`` when the attribute is absent.
    """
    return attribute_getter(name, flagset_module.now)(context)


def explain(flagset: FlagSet, key: str, context: Mapping[str, Any]) -> Explanation:
    """Evaluate ``key`` for ``context`` and trace every step.

    Raises:
        KeyError: The flag is not defined in ``flagset``.
    """
    table = {k: f.resolve for k, f in flagset.flags.items()}
    # The segments and one option, not the whole document re-derived (see flagkit.document.definitions).
    spec = flagset.spec
    segments = spec.segments() if spec is not None else {}
    explainer = _Explainer(flagset.flags, table, segments, context)
    explainer.numeric_strings = spec is not None and spec.numeric_strings
    return explainer.flag(key)


class _Explainer:
    def __init__(
        self,
        flags: Mapping[str, CompiledFlag],
        table: Mapping[str, Any],
        segments: Mapping[str, Any],
        context: Mapping[str, Any],
    ) -> None:
        self.flags = flags
        self.table = table
        self.segments = segments
        self.context = context
        self.numeric_strings = False

    def flag(self, key: str) -> Explanation:
        compiled = self.flags[key]
        value, variant, reason, rule = compiled.resolve(self.context, self.table)
        base = {"key": key, "value": value, "variant": variant, "reason": reason, "rule": rule}
        default = compiled.default_variant
        definition = compiled.definition
        if definition is None:
            return Explanation(
                **base, default_variant=default, kind="static", consistent=reason is Reason.STATIC
            )
        off = switched_off_variant(compiled)
        if not definition.enabled:
            ok = (variant, reason, rule) == _outcome(off, Reason.DISABLED, None)
            return Explanation(**base, default_variant=default, kind="disabled", consistent=ok)
        prerequisites: list[PrerequisiteTrace] = []
        expected: tuple[str | None, Reason, str | None] | None = None
        for required, want in requirements(definition):
            inner = self.flag(required)
            ok = prerequisite_holds((inner.value, inner.variant, inner.reason, inner.rule), want)
            prerequisites.append(PrerequisiteTrace(required, inner.value, ok, inner, want))
            if not ok:
                expected = _outcome(off, Reason.PREREQUISITE_FAILED, None)
                break
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
            default_variant=default,
            kind="rules",
            prerequisites=tuple(prerequisites),
            rules=tuple(rules),
            consistent=expected == (variant, reason, rule),
        )

    def rule(
        self, key: str, definition: FlagDefinition, default: str, index: int, item: Rule
    ) -> tuple[RuleTrace, tuple[str | None, Reason, str | None] | None]:
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


def _outcome(variant: str, reason: Reason, rule: str | None) -> tuple[str | None, Reason, str | None]:
    """What the resolver returns for serving ``variant``: ``code_default`` has no variant and
    reason DEFAULT, unless the flag is off or a prerequisite failed."""
    if variant == CODE_DEFAULT_NAME:
        kept = reason if reason in (Reason.DISABLED, Reason.PREREQUISITE_FAILED) else Reason.DEFAULT
        return None, kept, rule
    return variant, reason, rule


def _fixed(rule: Rule) -> str | None:
    return rule.serve if isinstance(rule.serve, str) else None


def _jsonable(value: Any) -> Any:
    if value is CODE_DEFAULT:
        return CODE_DEFAULT_NAME
    return to_json_safe(value)


# --- text rendering -----------------------------------------------------------------------


def show(value: Any) -> str:
    """A value as a reader expects it: JSON for data, ISO time for the ``now`` clock."""
    if value is CODE_DEFAULT:
        return "the caller's default (code_default)"
    return dumps(value, ensure_ascii=False)


def _percent(units: int, total: int) -> str:
    return f"{units * 100 / total:.3f}".rstrip("0").rstrip(".") + " %"


def _seen(node: ConditionTrace) -> str:
    if not node.present:
        return "absent"
    if node.attribute == "now" and isinstance(node.value, float):
        stamp = dt.datetime.fromtimestamp(node.value, dt.UTC).isoformat(timespec="seconds")
        return f"now = {stamp}"
    return show(node.value)


def _mark(matched: bool) -> str:
    return "✓" if matched else "✗"


def _render_condition(node: ConditionTrace, indent: str, out: list[str]) -> None:
    mark = _mark(node.matched)
    if node.kind in ("attribute", "operator"):
        if node.children:
            out.append(f"{indent}{mark} {node.attribute} (saw {_seen(node)})")
            for child in node.children:
                out.append(f"{indent}    {_mark(child.matched)} {child.operator} {show(child.operand)}")
            return
        subject = node.attribute if node.kind == "attribute" else ""
        out.append(f"{indent}{mark} {subject} {node.operator} {show(node.operand)}  (saw {_seen(node)})")
        return
    if node.kind == "segment":
        out.append(f"{indent}{mark} segment {node.segment}")
    else:
        out.append(f"{indent}{mark} {node.kind}:")
    for child in node.children:
        _render_condition(child, indent + "    ", out)


def _render_split(split: SplitTrace, indent: str, out: list[str]) -> None:
    total = split.total_weight
    arms = ", ".join(
        f"{name} [{_percent(a, total)}, {_percent(b, total)})" if b > a else f"{name} (0 %)"
        for name, a, b in split.ranges
    )
    if split.scheme == "flagd":
        out.append(f"{indent}split on {split.attribute} = {show(split.value)}, salt {show(split.salt)}")
    else:
        out.append(f"{indent}split on {split.attribute} = {show(split.value)}, {split.salt}")
    out.append(f"{indent}ranges: {arms}")
    if split.ramp is not None:
        first = split.ranges[0][0]
        out.append(f"{indent}ramp of {first}: {split.ramp.describe()}")
    if split.bucket is None:
        why = "absent" if split.value is None else "not bucketable"
        out.append(f"{indent}bucketing attribute {why}: the default variant is served")
    else:
        where = f"bucket {split.bucket:,} of {total:,} ({_percent(split.bucket, total)})"
        out.append(f"{indent}{where} → {split.variant}")


def render_explanation(explanation: Explanation, indent: str = "") -> list[str]:
    """The trace as text lines (what ``flagkit eval --explain`` prints)."""
    out: list[str] = []
    if explanation.kind == "static":
        out.append(f"{indent}{explanation.key} is a static flag: everyone gets {show(explanation.value)}")
        return out
    if explanation.kind == "disabled":
        served = explanation.variant if explanation.variant is not None else CODE_DEFAULT_NAME
        out.append(
            f"{indent}{explanation.key} is switched off (enabled: false): everyone gets {served!r}"
            + (" (the caller's default)" if explanation.variant is None else f" ({show(explanation.value)})")
        )
        return out
    for prereq in explanation.prerequisites:
        if prereq.want is True:
            verdict = "on" if prereq.ok else "not on → PREREQUISITE_FAILED"
            need = prereq.key
        elif prereq.want is False:
            verdict = "off" if prereq.ok else "not off → PREREQUISITE_FAILED"
            need = f"{prereq.key} off"
        else:
            got = prereq.explanation.variant if prereq.explanation else None
            verdict = f"serves {got}" if prereq.ok else f"serves {got} → PREREQUISITE_FAILED"
            need = f"{prereq.key} in [{', '.join(sorted(prereq.want))}]"
        out.append(f"{indent}requires {need}: {show(prereq.value)} ({verdict})")
        if prereq.explanation is not None:
            out.extend(render_explanation(prereq.explanation, indent + "    "))
    for rule in explanation.rules:
        path = format_path(("rules", rule.index))
        title = f"{indent}{path} {rule.label!r}" if rule.label != path else f"{indent}{path}"
        serve = f" → serve {rule.serve}" if rule.serve is not None else " → split"
        out.append(f"{title}: {rule.status}{serve if rule.status != 'no match' else ''}")
        if rule.status == "not reached":
            continue
        if rule.condition is None:
            out.append(f"{indent}    (no `when`: matches everyone)")
        else:
            _render_condition(rule.condition, indent + "    ", out)
        if rule.split is not None:
            _render_split(rule.split, indent + "    ", out)
    if not explanation.rules and not explanation.prerequisites:
        out.append(f"{indent}no rules: everyone gets the default variant {explanation.default_variant!r}")
    elif explanation.reason is Reason.DEFAULT and explanation.rule is None:
        out.append(f"{indent}no rule matched: default variant {explanation.default_variant!r}")
    if not explanation.consistent:  # pragma: no cover - would be a bug; tests keep it unreachable
        out.append(f"{indent}warning: this trace disagrees with the evaluation; please report it")
    return out


def ramp_lines(flagset: FlagSet, data: bytes | str, source: str) -> list[tuple[dict[str, Any], str]]:
    """Each ramp's state now, as JSON-ready data and a ``file:line: ramp: ...`` line (validate)."""
    document = flagset.document
    if document is None:
        return []
    ramps = ramps_of(document, flagset_module.now())
    marks = locate_lines(data) if ramps else {}
    out = []
    for ramp in ramps:
        line = line_for(marks, ramp.path)
        where = f"{source}:{line}" if line else source
        text = f"{where}: ramp: {format_path(ramp.path)}: {ramp.variant} {ramp.state.describe()}"
        killed = not getattr(document.features.get(str(ramp.path[1])), "enabled", True)
        if killed:
            text += " (the flag is killed, enabled: false: the ramp is not served)"
        entry = {"path": format_path(ramp.path), "line": line, **ramp.state.as_dict(), "killed": killed}
        out.append((entry, text))
    return out
