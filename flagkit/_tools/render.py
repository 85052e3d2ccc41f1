"""The text of an explanation: what ``flagkit eval --explain`` prints and the status page shows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..errors import format_path
from ..evaluation import CODE_DEFAULT, CODE_DEFAULT_NAME, Reason
from ..jsonsafe import dumps
from .trace import ConditionTrace, Explanation, SplitTrace

__all__ = ["render_explanation", "show"]


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
    if explanation.kind == "error":
        out.append(f"{indent}{explanation.key}: {explanation.error_message} ({explanation.error_code})")
        return out
    if explanation.kind == "override":
        who = (
            "forced for this browser by a QA override (the flagkit_qa cookie)"
            if explanation.reason is Reason.QA_OVERRIDE
            else "overridden by a test (override_flags)"
        )
        out.append(f"{indent}{explanation.key} is {who}: {show(explanation.value)}; rules not evaluated")
        return out
    if explanation.kind == "guard":
        out.append(
            f"{indent}{explanation.key} is switched off in this process by a tripped guard: "
            f"{show(explanation.value)}; rules not evaluated"
        )
        return out
    if explanation.kind == "untraced":
        out.append(
            f"{indent}{explanation.key}: no trace (a reload replaced this version of the flag while "
            "the snapshot was pinned)"
        )
        return out
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
