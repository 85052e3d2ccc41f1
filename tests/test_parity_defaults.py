"""The caller's default (`code_default`) and prerequisites on variants / on "off".

Sources (read, not copied; each vector names where it comes from):
- flagd-testbed gherkin/evaluation.feature @no-default ("Resolves flag with no defaultValue
  correctly": null-default-flag, undefined-default-flag, no-default-flag-null-targeting-variant)
  and gherkin/disabled.feature (a disabled flag resolves with reason DISABLED and the code
  default).
- LaunchDarkly's evaluation docs: an off flag without an off variation returns the application's
  fallback value; a failed prerequisite serves the off variation.
- Unleash client-specification specifications/17-dependent-features.json.
"""

from __future__ import annotations

from typing import Any

import pytest

from flagkit import CODE_DEFAULT, ConfigError, Flags, FlagSet, Reason
from flagkit._tools.explain import explain_in
from flagkit._tools.render import render_explanation

# --- flagd: flags without a defaultVariant ---------------------------------------------------

FLAGD_NO_DEFAULT = {
    "features": {
        "null-default-flag": {"default": "code_default"},  # boolean on/off, defaultVariant null
        "undefined-default-flag": {"variants": {"small": 10, "big": 1000}, "default": "code_default"},
        "no-default-flag-null-targeting-variant": {
            "variants": {"ceo": "CEO"},
            "default": "code_default",
            "rules": [{"when": {"email": "jobs@orange.com"}, "serve": "ceo"}],
        },
    }
}


@pytest.mark.parametrize(
    ("key", "code_default", "email", "value", "reason"),
    [
        ("null-default-flag", True, None, True, Reason.DEFAULT),
        ("null-default-flag", False, None, False, Reason.DEFAULT),
        ("undefined-default-flag", 100, None, 100, Reason.DEFAULT),
        (
            "no-default-flag-null-targeting-variant",
            "Inventor",
            "wozniak@orange.com",
            "Inventor",
            Reason.DEFAULT,
        ),
        (
            "no-default-flag-null-targeting-variant",
            "Founder",
            "wozniak@orange.com",
            "Founder",
            Reason.DEFAULT,
        ),
        ("no-default-flag-null-targeting-variant", "CEO", "jobs@orange.com", "CEO", Reason.TARGETING_MATCH),
    ],
)
def test_flagd_no_default_vectors(
    key: str, code_default: Any, email: str | None, value: Any, reason: Reason
) -> None:
    flags = Flags.from_dict(FLAGD_NO_DEFAULT)
    context = {"email": email} if email else {}
    result = flags.evaluate(key, code_default, context)
    assert (result.value, result.reason, result.error_code) == (value, reason, None)
    assert flags.get_value(key, code_default, context) == value


@pytest.mark.parametrize("default", [False, "bye", 1, 0.1, {}])
def test_flagd_disabled_flags_serve_the_code_default(default: Any) -> None:
    # flagd-testbed disabled.feature: value = the code default, reason DISABLED.
    definition = {"enabled": False, "variants": {"x": "x"}, "default": "x", "off_variant": "code_default"}
    flags = Flags.from_dict({"features": {"disabled-flag": definition}})
    result = flags.evaluate("disabled-flag", default, {})
    assert (result.value, result.variant, result.reason, result.is_error) == (
        default,
        None,
        Reason.DISABLED,
        False,
    )


def test_launchdarkly_off_flag_without_off_variation_and_failed_prerequisite() -> None:
    doc = {
        "features": {
            "parent": False,
            "off-flag": {
                "enabled": False,
                "variants": {"a": "A"},
                "default": "a",
                "off_variant": "code_default",
            },
            "child": {
                "variants": {"a": "A", "b": "B"},
                "default": "a",
                "off_variant": "code_default",
                "requires": ["parent"],
            },
            "classic": {"variants": {"a": "A"}, "default": "a", "requires": ["parent"]},  # unchanged
        }
    }
    flags = Flags.from_dict(doc)
    assert flags.evaluate("off-flag", "fallback").value == "fallback"
    child = flags.evaluate("child", "fallback")
    assert (child.value, child.variant, child.reason) == ("fallback", None, Reason.PREREQUISITE_FAILED)
    classic = flags.evaluate("classic", "fallback")
    assert (classic.value, classic.reason) == ("A", Reason.PREREQUISITE_FAILED)


def test_rules_and_split_arms_can_serve_the_code_default() -> None:
    doc = {
        "features": {
            "f": {
                "variants": {"new": "new"},
                "default": "new",
                "bucket_by": "user_id",
                "rules": [
                    {"name": "blocked", "when": {"country": "XX"}, "serve": "code_default"},
                    {"name": "canary", "serve": {"new": 10, "code_default": 90}},
                ],
            }
        }
    }
    flags = Flags.from_dict(doc)
    blocked = flags.evaluate("f", "old", {"country": "XX", "user_id": "u"})
    assert (blocked.value, blocked.variant, blocked.reason, blocked.rule) == (
        "old",
        None,
        Reason.DEFAULT,
        "blocked",
    )
    served = [flags.evaluate("f", "old", {"user_id": f"u{i}"}) for i in range(400)]
    new = [r for r in served if r.value == "new"]
    assert 20 < len(new) < 70
    assert all(r.reason is Reason.SPLIT and r.variant == "new" for r in new)
    assert all(
        (r.variant, r.reason, r.rule) == (None, Reason.DEFAULT, "canary") for r in served if r.value == "old"
    )
    flagset = FlagSet.from_dict(doc)
    for i in range(40):
        assert explain_in(flagset, "f", {"user_id": f"u{i}"}).consistent
    assert explain_in(flagset, "f", {"country": "XX"}).consistent


def test_every_client_call_handles_the_code_default() -> None:
    flags = Flags.from_dict(
        {"features": {"f": {"variants": {"a": [1]}, "default": "code_default"}, "g": True}}
    )
    assert flags.get_value("f", None) is None  # never the internal marker
    assert flags.get_value("f", [9]) == [9]
    assert flags.is_enabled("f") is False
    assert flags.variant("f") is None
    assert flags.all_values() == {"g": True}  # only the calling code knows f's value
    result = flags.evaluate("f", None)
    assert (result.value, result.reason, result.is_error) == (None, Reason.DEFAULT, False)
    assert result.as_dict()["value"] is None
    compiled = flags.get_flag("f")
    assert compiled is not None
    assert compiled.resolve({}, {})[0] is CODE_DEFAULT
    assert repr(CODE_DEFAULT) == "CODE_DEFAULT"


def test_code_default_is_reserved_and_named_in_errors() -> None:
    with pytest.raises(ConfigError, match="`code_default` is reserved"):
        Flags.from_dict({"features": {"f": {"variants": {"code_default": 1}, "default": "code_default"}}})
    with pytest.raises(ConfigError, match=r"off_variant: 'of' is not a variant.*or code_default"):
        Flags.from_dict({"features": {"f": {"off_variant": "of"}}})


def test_explain_says_the_caller_s_default() -> None:
    flagset = FlagSet.from_dict({"features": {"f": {"enabled": False, "off_variant": "code_default"}}})
    trace = explain_in(flagset, "f", {})
    assert trace.consistent
    assert trace.as_dict()["value"] == "code_default"
    assert "everyone gets 'code_default' (the caller's default)" in "\n".join(render_explanation(trace))


# --- prerequisites on variants and on "off" ---------------------------------------------------

# Unleash 17-dependent-features, as flagkit prerequisites. "parent.with.variant" serves the
# variant "parent.variant" to everyone; "parent.with.constraint" only in environment prod.
UNLEASH_DEPENDENT: dict[str, Any] = {
    "features": {
        "parent.enabled": True,
        "parent.disabled": {"enabled": False},
        "parent.with.variant": {
            "variants": {"parent.variant": "variantValue", "nonmatching.variant": "other"},
            "default": "parent.variant",
        },
        "parent.with.constraint": {"rules": [{"when": {"environment": "prod"}, "serve": "on"}]},
        "parent.enabled.child.enabled": {"requires": ["parent.enabled"]},
        "parent.disabled.child.enabled": {"requires": ["parent.disabled"]},
        "parent.disabled.satisfied.child.enabled": {"requires": [{"parent.disabled": False}]},
        "parent.disabled.not.satisfied.child.enabled": {"requires": [{"parent.enabled": False}]},
        "parent.single.variant.child.enabled": {"requires": [{"parent.with.variant": "parent.variant"}]},
        "parent.multiple.variants.child.enabled": {
            "requires": [{"parent.with.variant": ["parent.variant", "nonmatching.variant"]}]
        },
        "parent.non.matching.variant.child.enabled": {
            "requires": [{"parent.with.variant": "nonmatching.variant"}]
        },
        "multiple.parents.satisfied.child.enabled": {
            "requires": ["parent.enabled", {"parent.disabled": False}]
        },
        "multiple.parents.not.satisfied.child.enabled": {"requires": ["parent.enabled", "parent.disabled"]},
        "child.with.matching.constraint": {"requires": ["parent.with.constraint"]},
        "child.with.non.matching.constraint": {"requires": ["parent.with.constraint"]},
    }
}
for _child in UNLEASH_DEPENDENT["features"].values():
    if isinstance(_child, dict) and "requires" in _child:
        _child["rules"] = [{"serve": "on"}]  # each child's own strategy: a 100 % rollout
UNLEASH_DEPENDENT_CASES = [
    ("parent.enabled.child.enabled", {}, True),
    ("parent.disabled.child.enabled", {}, False),
    ("parent.disabled.satisfied.child.enabled", {}, True),
    ("parent.disabled.not.satisfied.child.enabled", {}, False),
    ("parent.single.variant.child.enabled", {}, True),
    ("parent.multiple.variants.child.enabled", {}, True),
    ("parent.non.matching.variant.child.enabled", {}, False),
    ("multiple.parents.satisfied.child.enabled", {}, True),
    ("multiple.parents.not.satisfied.child.enabled", {}, False),
    ("child.with.matching.constraint", {"environment": "prod"}, True),
    ("child.with.non.matching.constraint", {"environment": "dev"}, False),
]


@pytest.mark.parametrize(("key", "context", "expected"), UNLEASH_DEPENDENT_CASES)
def test_unleash_dependent_feature_vectors(key: str, context: dict[str, Any], expected: bool) -> None:
    flags = Flags.from_dict(UNLEASH_DEPENDENT)
    assert flags.is_enabled(key, {**context}) is expected
    flagset = FlagSet.from_dict(UNLEASH_DEPENDENT)
    trace = explain_in(flagset, key, context)
    assert trace.consistent
    reason = explain_in(flagset, key, context).reason
    assert (reason is Reason.PREREQUISITE_FAILED) is (not expected)


def test_a_variant_requirement_needs_a_serving_parent() -> None:
    # LaunchDarkly/Unleash: an off parent satisfies no variant requirement, even when its off
    # value is the variant asked for.
    on = {"rules": [{"serve": "on"}]}  # each child's own rules serve on: only requires decides
    doc = {
        "features": {
            "parent": {"enabled": False, "variants": {"a": 1, "b": 2}, "default": "a"},
            "child": {"requires": [{"parent": "a"}], **on},
            "on_child": {"requires": ["parent"], **on},
            "off_child": {"requires": [{"parent": False}], **on},
        }
    }
    flags = Flags.from_dict(doc)
    assert flags.evaluate("parent", 0).value == 1  # it serves a truthy value, yet it is off:
    assert flags.is_enabled("child") is False
    assert flags.is_enabled("on_child") is False
    assert flags.is_enabled("off_child") is True


def test_a_switched_off_parent_is_off_whatever_it_serves() -> None:
    """Killing a parent switches its dependents off, as Unleash's disabled parent does, even
    when the parent's default (what a killed flag serves) is truthy; the caller's default is
    not "on" either."""
    on = {"rules": [{"serve": "on"}]}
    flags = Flags.from_dict(
        {
            "features": {
                "killed_on": {"enabled": False, "default": "on", "off_variant": "on"},
                "code": {"variants": {"x": True}, "default": "code_default"},
                "needs_killed": {"requires": ["killed_on"], **on},
                "needs_killed_true": {"requires": [{"killed_on": True}], **on},
                "needs_killed_off": {"requires": [{"killed_on": False}], **on},
                "needs_code": {"requires": ["code"], **on},
                "needs_code_off": {"requires": [{"code": False}], **on},
            }
        }
    )
    assert flags.is_enabled("killed_on") is True  # a killed flag serves its off_variant...
    assert flags.evaluate("needs_killed", False).reason is Reason.PREREQUISITE_FAILED  # ...but is off
    assert flags.is_enabled("needs_killed_true") is False
    assert flags.is_enabled("needs_killed_off") is True
    assert flags.is_enabled("needs_code") is False
    assert flags.is_enabled("needs_code_off") is True


def test_requirement_errors_are_load_errors() -> None:
    base = {"parent": {"variants": {"a": 1, "b": 2}, "default": "a"}}
    with pytest.raises(ConfigError, match=r"requires\[0\]\.parent: 'c' is not a variant of 'parent'"):
        Flags.from_dict({"features": {**base, "child": {"requires": [{"parent": ["a", "c"]}]}}})
    with pytest.raises(ConfigError, match="at least one variant"):
        Flags.from_dict({"features": {**base, "child": {"requires": [{"parent": []}]}}})
    with pytest.raises(ConfigError, match="one prerequisite per entry"):
        Flags.from_dict(
            {"features": {**base, "other": True, "child": {"requires": [{"parent": "a", "other": True}]}}}
        )
    with pytest.raises(ConfigError, match="requires unknown flag 'ghost'"):
        Flags.from_dict({"features": {"child": {"requires": [{"ghost": False}]}}})
    with pytest.raises(ConfigError, match="prerequisite cycle"):
        Flags.from_dict({"features": {"a": {"requires": [{"b": True}]}, "b": {"requires": [{"a": "on"}]}}})


def test_explain_renders_variant_and_off_requirements() -> None:
    flagset = FlagSet.from_dict(UNLEASH_DEPENDENT)
    text = "\n".join(render_explanation(explain_in(flagset, "parent.non.matching.variant.child.enabled", {})))
    assert "requires parent.with.variant in [nonmatching.variant]" in text
    assert "serves parent.variant → PREREQUISITE_FAILED" in text
    text = "\n".join(render_explanation(explain_in(flagset, "parent.disabled.satisfied.child.enabled", {})))
    assert "requires parent.disabled off: false (off)" in text


def test_hooks_see_the_caller_s_default() -> None:
    from flagkit._observe.hooks import Hook, HookContext
    from flagkit.evaluation import Evaluation

    seen: list[tuple[Any, Any, Reason]] = []

    class Record(Hook):
        def after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
            seen.append((details.value, details.variant, details.reason))

    flags = Flags.from_dict({"features": {"f": {"variants": {"a": "A"}, "default": "code_default"}}})
    flags.add_hook(Record())
    assert flags.get_value("f", "mine") == "mine"
    assert flags.get_value("f", None) is None
    assert flags.evaluate("f", "mine").value == "mine"
    assert flags.is_enabled("f") is False
    assert [value for value, _, _ in seen] == ["mine", None, "mine", False]
    assert all(variant is None and reason is Reason.DEFAULT for _, variant, reason in seen)
