"""What :func:`flagkit._tools.explain.explain` returns: one evaluation and every step of it.

Plain frozen dataclasses, JSON-ready through ``as_dict()``; :mod:`flagkit._tools.render` turns
them into the text ``flagkit eval --explain`` and the status page show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._engine.ramps import RampState
from ..evaluation import CODE_DEFAULT, CODE_DEFAULT_NAME, ErrorCode, Reason
from ..jsonsafe import to_json_safe

__all__ = ["ConditionTrace", "Explanation", "PrerequisiteTrace", "RuleTrace", "SplitTrace"]


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
    """The result of one evaluation and how it was reached (:meth:`flagkit.Flags.explain`).

    The value, variant, reason and rule are what the real compiled resolver served; the
    prerequisites and rules are the steps that lead there, and :attr:`consistent` records that
    the two agree. :func:`flagkit._tools.render.render_explanation` prints it as text;
    :meth:`as_dict` gives it as JSON-ready data.

    Attributes:
        key: The flag key.
        value: The value served (from the real compiled resolver); ``CODE_DEFAULT`` when the
            flag serves the caller's default (``code_default``), ``None`` on an error.
        variant: The variant served.
        reason: Why.
        rule: The matching rule's label, if any.
        default_variant: The flag's default variant (``None`` when the flag is not defined).
        kind: What was traced: ``static`` (a bare value), ``disabled`` (``enabled: false``),
            ``rules``, ``override`` (a test override or a tester's QA override served it:
            ``reason`` says which), ``guard`` (a tripped guard switched it off), ``untraced``
            (a reload replaced this version's document while the snapshot was pinned: the
            answer is real, the steps are not shown) or ``error`` (see ``error_code``).
        prerequisites: The ``requires`` checks, in order (stops at the first failure).
        rules: Every rule with its status.
        consistent: True when the trace leads to the same result as the real resolver.
        error_code: Why nothing was served (reason ``ERROR``): ``FLAG_NOT_FOUND``, or the
            evaluation failed (``PARSE_ERROR`` for a context that is not a mapping,
            ``GENERAL``).
        error_message: The error in words (no context values).
    """

    key: str
    value: Any
    variant: str | None
    reason: Reason
    rule: str | None
    default_variant: str | None
    kind: str
    prerequisites: tuple[PrerequisiteTrace, ...] = ()
    rules: tuple[RuleTrace, ...] = ()
    consistent: bool = True
    error_code: ErrorCode | None = None
    error_message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``error_code`` and ``error_message`` only on an error)."""
        errors = {"error_code": str(self.error_code), "error_message": self.error_message}
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
            **(errors if self.error_code is not None else {}),
        }


def _jsonable(value: Any) -> Any:
    if value is CODE_DEFAULT:
        return CODE_DEFAULT_NAME
    return to_json_safe(value)
