"""The evaluation trace: it must agree with the real evaluation, step by step."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from flagkit import Flags, FlagSet, Reason
from flagkit._engine.compiler import TOTAL_WEIGHT
from flagkit._tools.explain import attribute_value, explain_in
from flagkit._tools.render import render_explanation
from flagkit._tools.trace import ConditionTrace, Explanation
from flagkit.bucketing import bucket
from flagkit.cli.demo import SAMPLE_USERS, client_for


def load(yaml_text: str) -> FlagSet:
    return FlagSet.from_bytes(yaml_text.encode(), source="flags.yaml")


def contexts() -> list[dict[str, Any]]:
    """A varied population: the demo users, then a grid of attributes with and without ids."""
    out: list[dict[str, Any]] = [dict(u) for u in SAMPLE_USERS]
    grid = itertools.product(
        ["US", "DE", "AU", None],
        ["free", "pro", "enterprise"],
        [True, False],
        ["a@example.com", "b@partner.org", None],
        ["2.0.0", "3.2.0", "4.1.0"],
    )
    for i, (country, plan, premium, email, app) in enumerate(grid):
        ctx: dict[str, Any] = {"plan": plan, "premium": premium, "app_version": app, "age": 10 + i % 50}
        if country:
            ctx["country"] = country
        if email:
            ctx["email"] = email
        if i % 5:
            ctx["user_id"] = f"u-{i:03d}"
        if i % 3:
            ctx["account_id"] = f"acct-{i % 17}"
        if i % 7 == 0:
            ctx["targeting_key"] = f"tk-{i}"
        out.append(ctx)
    return out


def walk(node: ConditionTrace) -> list[ConditionTrace]:
    return [node, *(n for child in node.children for n in walk(child))]


def check_tree(node: ConditionTrace) -> None:
    """Every combinator node's verdict follows from its children."""
    for item in walk(node):
        kids = [c.matched for c in item.children]
        if item.kind == "any":
            assert item.matched == any(kids)
        elif item.kind == "all":
            assert item.matched == all(kids)
        elif item.kind == "not":
            assert item.matched == (not kids[0])
        elif item.kind == "segment":
            assert item.matched == kids[0]
        elif item.kind == "attribute" and item.children:
            assert item.matched == all(kids)


def test_trace_agrees_with_the_client_on_every_example_flag(example_file: Path) -> None:
    flagset = FlagSet.from_file(example_file)
    population = contexts()
    with client_for(flagset) as flags:
        for key in flagset.flags:
            for ctx in population:
                real = flags.evaluate(key, None, ctx)
                trace = explain_in(flagset, key, ctx)
                assert trace.consistent, (key, ctx)
                assert (trace.value, trace.variant, trace.reason, trace.rule) == (
                    real.value,
                    real.variant,
                    real.reason,
                    real.rule,
                ), (key, ctx)
                matched = [r for r in trace.rules if r.status == "matched"]
                assert len(matched) <= 1
                for rule in trace.rules:
                    if rule.condition is not None:
                        check_tree(rule.condition)
                if matched and matched[0].split is not None:
                    split = matched[0].split
                    if split.variant is not None:
                        assert split.variant == real.variant
                        assert real.reason is Reason.SPLIT
                    else:
                        assert real.reason is Reason.DEFAULT


def test_a_trace_that_disagrees_with_the_resolver_is_flagged(example_file: Path) -> None:
    flagset = FlagSet.from_file(example_file)
    flag = flagset.flags["new_search"]
    lying = dataclasses.replace(flag, resolve=lambda ctx, table: (True, "on", Reason.SPLIT, "ten percent"))
    tampered = dataclasses.replace(flagset, flags={**flagset.flags, "new_search": lying})
    # u-003 lands in the 90 % "off" arm of the real split, so the trace cannot reach "on".
    assert not explain_in(tampered, "new_search", {"user_id": "u-003"}).consistent
    assert explain_in(flagset, "new_search", {"user_id": "u-003"}).consistent


def test_split_trace_shows_bucket_and_ranges() -> None:
    flagset = load(
        "features:\n  f:\n    variants: {a: 1, b: 2, c: 3}\n    default: a\n"
        "    rules:\n      - name: ramp\n        serve: {a: 10, b: 0, c: 90}\n"
    )
    trace = explain_in(flagset, "f", {"targeting_key": "user-42"})
    split = trace.rules[0].split
    assert split is not None
    assert split.attribute == "targeting_key"
    assert split.salt == "f"
    assert split.total_weight == TOTAL_WEIGHT
    assert split.ranges == (("a", 0, 10_000), ("b", 10_000, 10_000), ("c", 10_000, 100_000))
    assert split.bucket == bucket("f", "user-42", TOTAL_WEIGHT)
    expected = "a" if split.bucket < 10_000 else "c"
    assert split.variant == expected == trace.variant
    text = "\n".join(render_explanation(trace))
    assert f"bucket {split.bucket:,} of 100,000" in text
    assert "b (0 %)" in text


def test_split_uses_bucket_by_and_salt() -> None:
    flagset = load(
        "features:\n  f:\n    bucket_by: org.id\n    salt: s1\n    rules:\n      - serve: {on: 50, off: 50}\n"
    )
    ctx = {"org": {"id": 7}, "user_id": "ignored"}
    split = explain_in(flagset, "f", ctx).rules[0].split
    assert split is not None
    assert (split.attribute, split.value, split.salt) == ("org.id", 7, "s1")
    assert split.bucket == bucket("s1", 7, TOTAL_WEIGHT)


@pytest.mark.parametrize("ctx", [{}, {"user_id": True}, {"user_id": None}], ids=["absent", "bool", "none"])
def test_unbucketable_values_get_the_default(ctx: dict[str, Any]) -> None:
    flagset = load("features:\n  f:\n    rules:\n      - name: r\n        serve: {on: 50, off: 50}\n")
    trace = explain_in(flagset, "f", ctx)
    assert trace.consistent
    assert (trace.variant, trace.reason, trace.rule) == ("off", Reason.DEFAULT, "r")
    split = trace.rules[0].split
    assert split is not None
    assert split.bucket is None
    assert split.variant is None
    if not ctx:
        assert split.attribute == "targeting_key or user_id"


def test_condition_trace_records_values_seen() -> None:
    flagset = load(
        "segments:\n  staff: {email: {ends_with: '@corp.com'}}\n"
        "features:\n  f:\n    rules:\n      - name: r1\n        when:\n"
        "          segment: staff\n          age: {gte: 18, lt: 65}\n"
        "          any:\n            - country: [US, CA]\n            - not: {plan: free}\n"
        "        serve: on\n"
    )
    trace = explain_in(flagset, "f", {"email": "x@corp.com", "age": 70, "plan": "pro"})
    assert trace.consistent
    assert trace.reason is Reason.DEFAULT
    root = trace.rules[0].condition
    assert root is not None
    assert root.kind == "all"
    assert not root.matched
    segment, age, any_ = root.children
    assert (segment.kind, segment.segment, segment.matched) == ("segment", "staff", True)
    assert segment.children[0].value == "x@corp.com"
    assert age.attribute == "age"
    assert age.value == 70
    assert not age.matched
    assert [(c.operator, c.matched) for c in age.children] == [("gte", True), ("lt", False)]
    assert any_.kind == "any"
    assert any_.matched
    country, negation = any_.children
    assert (country.operator, country.present, country.matched) == ("in", False, False)
    assert negation.kind == "not"
    assert negation.matched
    check_tree(root)
    text = "\n".join(render_explanation(trace))
    assert "✗ age (saw 70)" in text
    assert 'country in ["US", "CA"]  (saw absent)' in text
    assert "no rule matched: default variant 'off'" in text


def test_rules_after_the_match_are_not_reached(example_file: Path) -> None:
    flagset = FlagSet.from_file(example_file)
    trace = explain_in(flagset, "new_search", {"email": "a@example.com", "user_id": "u-1"})
    assert [r.status for r in trace.rules] == ["matched", "not reached", "not reached"]
    assert trace.rules[1].condition is None


def test_prerequisites_are_explained(example_file: Path) -> None:
    flagset = FlagSet.from_file(example_file)
    off = explain_in(flagset, "search_suggestions", {"user_id": "u-003"})
    assert off.reason is Reason.PREREQUISITE_FAILED
    assert off.consistent
    (prereq,) = off.prerequisites
    assert prereq.key == "new_search"
    assert prereq.ok is False
    assert prereq.explanation is not None
    assert prereq.explanation.reason is Reason.SPLIT
    assert [r.status for r in off.rules] == ["not reached"]
    on = explain_in(flagset, "search_suggestions", {"email": "a@example.com"})
    assert on.reason is Reason.TARGETING_MATCH
    assert on.prerequisites[0].ok
    assert "requires new_search: false (not on → PREREQUISITE_FAILED)" in render_explanation(off)


def test_static_and_disabled_flags(example_file: Path) -> None:
    flagset = FlagSet.from_file(example_file)
    static = explain_in(flagset, "support_email", {})
    assert (static.kind, static.value, static.reason, static.consistent) == (
        "static",
        "help@example.com",
        Reason.STATIC,
        True,
    )
    disabled = explain_in(flagset, "legacy_export", {"user_id": "x"})
    assert (disabled.kind, disabled.reason, disabled.rules) == ("disabled", Reason.DISABLED, ())
    assert "switched off (enabled: false)" in render_explanation(disabled)[0]


def test_unknown_flag_raises_key_error(example_file: Path) -> None:
    with pytest.raises(KeyError):
        explain_in(FlagSet.from_file(example_file), "nope", {})


def test_attribute_value_matches_condition_lookup() -> None:
    ctx = {"a.b": 1, "x": {"y": {"z": "deep"}}, "plain": "p"}
    assert attribute_value(ctx, "a.b") == 1
    assert attribute_value(ctx, "x.y.z") == "deep"
    assert attribute_value(ctx, "x.q") is None
    assert attribute_value(ctx, "plain.more") is None
    assert isinstance(attribute_value(ctx, "now"), float)
    flagset = load("features:\n  f:\n    rules:\n      - when: {x.y.z: deep}\n        serve: on\n")
    trace = explain_in(flagset, "f", ctx)
    assert trace.variant == "on"
    assert trace.rules[0].condition is not None
    assert trace.rules[0].condition.value == "deep"


def test_as_dict_is_json(example_file: Path) -> None:
    flagset = FlagSet.from_file(example_file)
    for key in flagset.flags:
        data = explain_in(flagset, key, dict(SAMPLE_USERS[0])).as_dict()
        assert json.loads(json.dumps(data)) == data
        assert data["key"] == key
        assert data["consistent"] is True


def test_explanation_agrees_with_a_flags_client_built_from_dict() -> None:
    doc = {
        "features": {
            "f": {
                "variants": {"x": 1, "y": 2},
                "default": "x",
                "rules": [{"when": {"n": {"gt": 5}}, "serve": {"x": 30, "y": 70}}],
            }
        }
    }
    flagset = FlagSet.from_dict(doc)
    with Flags.from_dict(doc) as flags:
        for i in range(200):
            ctx = {"n": i % 10, "user_id": f"u{i}"}
            trace: Explanation = explain_in(flagset, "f", ctx)
            assert (trace.value, trace.reason) == (
                flags.get_value("f", 0, ctx),
                flags.evaluate("f", 0, ctx).reason,
            )


def test_a_switched_off_boolean_flag_is_explained_as_off() -> None:
    """explain traces the engine's one meaning of off (issue 16): killed or prerequisite
    failed, a boolean flag whose default is on serves off, and the trace says so."""
    flagset = load(
        "features:\n"
        "  killed: {enabled: false, default: on, rules: [{when: {country: XX}, serve: off}]}\n"
        "  gated: {requires: [killed], default: on}\n"
        "  kept_on: {enabled: false, default: on, off_variant: on}\n"
    )
    killed = explain_in(flagset, "killed", {"country": "FR"})
    assert (killed.value, killed.variant, killed.reason, killed.consistent) == (
        False,
        "off",
        Reason.DISABLED,
        True,
    )
    assert (
        render_explanation(killed)[0]
        == "killed is switched off (enabled: false): everyone gets 'off' (false)"
    )
    gated = explain_in(flagset, "gated", {})
    assert (gated.value, gated.reason, gated.consistent) == (False, Reason.PREREQUISITE_FAILED, True)
    kept = explain_in(flagset, "kept_on", {})
    assert (kept.value, kept.variant, kept.consistent) == (True, "on", True)
