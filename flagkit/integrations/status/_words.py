"""A flag's definition in plain words, for the status page ("rules in words")."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from flagkit import CompiledFlag
from flagkit import flagset as flagset_module
from flagkit._engine.compiler import switched_off_variant
from flagkit._engine.ramps import rule_schedule
from flagkit.document.schema import BucketInput, Requirement, Rule

__all__ = ["condition_in_words", "flag_in_words"]

_OPERATORS: Mapping[str, str] = {
    "eq": "is",
    "ne": "is not",
    "in": "is one of",
    "not_in": "is not one of",
    "contains": "contains",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "matches": "matches the pattern",
    "gt": "is greater than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "semver_eq": "is version",
    "semver_gt": "is a version after",
    "semver_gte": "is version",
    "semver_lt": "is a version before",
    "semver_lte": "is version",
    "before": "is before",
    "after": "is after",
    "at_or_before": "is at or before",
    "at_or_after": "is at or after",
    "in_cidr": "is an address in",
}
_TIME_OPERATORS = frozenset({"before", "after", "at_or_before", "at_or_after"})
_SUFFIX: Mapping[str, str] = {"semver_gte": " or later", "semver_lte": " or earlier"}


def _show(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _list(items: list[Any]) -> str:
    return ", ".join(_show(item) for item in items)


def _attribute(name: str, operand: Any) -> list[str]:
    if isinstance(operand, list):
        return [f"{name} is one of {_list(operand)}"]
    if not isinstance(operand, dict):
        return [f"{name} is {_show(operand)}"]
    parts: list[str] = []
    for op, arg in operand.items():
        if op == "exists":
            parts.append(f"{name} is {'present' if arg else 'absent'}")
        elif op == "any_element":
            parts.append(f"{name} has an element where {' and '.join(_attribute('it', arg))}")
        elif isinstance(arg, list):
            parts.append(f"{name} {_OPERATORS.get(op, op)} {_list(arg)}")
        elif arg == "now" and op in _TIME_OPERATORS:
            parts.append(f"{name} {_OPERATORS.get(op, op)} the time of the evaluation")
        else:
            parts.append(f"{name} {_OPERATORS.get(op, op)} {_show(arg)}{_SUFFIX.get(op, '')}")
    return parts


def condition_in_words(condition: Mapping[str, Any]) -> str:
    """``{"country": "US", "premium": True}`` → ``country is "US" and premium is true``."""
    parts: list[str] = []
    for name, operand in condition.items():
        if name in ("all", "any") and isinstance(operand, list):
            joiner = " and " if name == "all" else " or "
            inner = joiner.join(condition_in_words(item) for item in operand)
            parts.append(f"({inner})" if len(operand) > 1 else inner)
        elif name == "not" and isinstance(operand, Mapping):
            parts.append(f"not ({condition_in_words(operand)})")
        elif name == "segment":
            parts.append(f"the user is in segment {_show(operand)}")
        else:
            parts.extend(_attribute(name, operand))
    return " and ".join(parts) if parts else "always"


def _percent(weight: float) -> str:
    return f"{weight:.3f}".rstrip("0").rstrip(".") + " %"


def _ramped(rule: Rule, now: float) -> tuple[Mapping[str, float], str]:
    """The split of ``rule`` in force at ``now`` and, for a ramped split, where the ramp stands."""
    serve = rule.serve
    assert isinstance(serve, Mapping)
    schedule = rule_schedule(rule)
    if schedule is None:
        return serve, ""
    first, second = serve
    return schedule.weights(first, second, now), f"; ramp of {first}: {schedule.state(now).describe()}"


def _split(serve: Mapping[str, float], bucket_by: str | BucketInput | None, salt: str | None) -> str:
    total = sum(serve.values()) or 1
    arms = ", ".join(f"{_percent(w * 100 / total)} get {name}" for name, w in serve.items())
    if isinstance(bucket_by, BucketInput):
        by = f"the input {bucket_by.input}" + ("" if bucket_by.salted else ", unsalted")
    else:
        by = bucket_by or "targeting_key (else user_id)"
    salted = f", salt {_show(salt)}" if salt is not None else ""
    return f"a percentage split: {arms} (sticky by {by}{salted})"


def _requirements(requires: Sequence[Requirement]) -> str:
    parts = []
    for entry in requires:
        if isinstance(entry, str):
            parts.append(f"{entry} to be on")
            continue
        for parent, want in entry.items():
            if want is True:
                parts.append(f"{parent} to be on")
            elif want is False:
                parts.append(f"{parent} to be off")
            elif isinstance(want, str):
                parts.append(f"{parent} to serve {want}")
            else:
                parts.append(f"{parent} to serve one of {', '.join(want)}")
    return ", ".join(parts)


def _variant_in_words(flag: CompiledFlag, name: str, which: str) -> str:
    if name in flag.variants:
        return f"{which} {name} ({_show(flag.variants[name])})"
    return "the caller's default (code_default)"


def flag_in_words(flag: CompiledFlag, now: float | None = None) -> list[str]:
    """One sentence per step of the flag: kill switch, prerequisites, each rule, the fallback.

    Ramped splits are shown as they stand at ``now`` (default: the evaluation clock).
    """
    definition = flag.definition
    if definition is None:
        return [f"Everyone gets {_show(flag.variants[flag.default_variant])}."]
    now = flagset_module.now() if now is None else now
    default = _variant_in_words(flag, flag.default_variant, "the default variant")
    off_name = switched_off_variant(flag)
    off = (
        _variant_in_words(flag, off_name, "the off variant")
        if definition.off_variant is not None
        else default
        if off_name == flag.default_variant
        else _variant_in_words(flag, off_name, "the false variant")
    )
    if not definition.enabled:
        return [f"Turned off (kill switch, enabled: false): everyone gets {off}."]
    lines: list[str] = []
    if definition.requires:
        lines.append(f"Requires {_requirements(definition.requires)}; otherwise {off}.")
    for index, rule in enumerate(definition.rules, 1):
        label = f" ({rule.name})" if rule.name else ""
        when = condition_in_words(rule.when) if rule.when is not None else None
        if isinstance(rule.serve, str):
            outcome = f"serve {rule.serve} ({_show(flag.variants.get(rule.serve))})"
        else:
            serve, ramp = _ramped(rule, now)
            outcome = f"serve {_split(serve, definition.bucket_by, definition.salt)}{ramp}"
        # A first rule without `when` is everyone; a later one, everyone the rules above missed.
        condition = f"if {when}, " if when else ("everyone: " if index == 1 else "everyone else: ")
        lines.append(f"Rule {index}{label}: {condition}{outcome}.")
    lines.append(f"{'Otherwise' if definition.rules else 'Everyone gets'}: {default}.")
    return lines
