"""Flag definitions: validation errors (with locations) and evaluation semantics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flagkit import ConfigError, Flags, FlagSet, Reason
from flagkit.document.reader import read_document


def load(yaml_text: str, source: str = "flags.yaml") -> FlagSet:
    return FlagSet.from_bytes(yaml_text.encode(), source=source)


def error_of(yaml_text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(yaml_text)
    return info.value


# --- errors name the file, line, flag and field ----------------------------------------------

BAD_CASES = [
    (
        "weights not summing to 100",
        "features:\n  f:\n    rules:\n      - serve: {on: 10, off: 80}\n",
        ("features", "f", "rules", 0, "serve"),
        4,
        "sum to 90",
    ),
    (
        "unknown variant in serve",
        "features:\n  f:\n    variants: {a: 1, b: 2}\n    default: a\n    rules:\n      - serve: c\n",
        ("features", "f", "rules", 0, "serve"),
        6,
        "'c' is not a variant",
    ),
    (
        "unknown variant in a split",
        "features:\n  f:\n    rules:\n      - serve: {on: 50, of: 50}\n",
        ("features", "f", "rules", 0, "serve", "of"),
        4,
        "'of' is not a variant",
    ),
    (
        "unknown default",
        "features:\n  f:\n    variants: {a: 1}\n    default: z\n",
        ("features", "f", "default"),
        4,
        "'z' is not a variant",
    ),
    (
        "unknown operator",
        "features:\n  f:\n    rules:\n      - when:\n          age: {greater: 3}\n        serve: on\n",
        ("features", "f", "rules", 0, "when", "age", "greater"),
        5,
        "unknown operator 'greater'",
    ),
    (
        "bad regex",
        "features:\n  f:\n    rules:\n      - when: {email: {matches: '([a-z'}}\n        serve: on\n",
        ("features", "f", "rules", 0, "when", "email", "matches"),
        4,
        "invalid regular expression",
    ),
    (
        "catastrophic regex",
        "features:\n  f:\n    rules:\n      - when: {email: {matches: '(a+)+$'}}\n        serve: on\n",
        ("features", "f", "rules", 0, "when", "email", "matches"),
        4,
        "nested repetition",
    ),
    (
        "backreference",
        "features:\n  f:\n    rules:\n      - when: {email: {matches: '(a)\\1'}}\n        serve: on\n",
        ("features", "f", "rules", 0, "when", "email", "matches"),
        4,
        "backreferences",
    ),
    (
        "bad date",
        "features:\n  f:\n    rules:\n      - when: {now: {after: 'next tuesday'}}\n        serve: on\n",
        ("features", "f", "rules", 0, "when", "now", "after"),
        4,
        "not an RFC 3339 date",
    ),
    (
        "bad expires",
        "features:\n  f:\n    expires: someday\n",
        ("features", "f", "expires"),
        3,
        "date",
    ),
    (
        "unknown segment",
        "segments:\n  staff: {email: {ends_with: '@x.com'}}\nfeatures:\n  f:\n    rules:\n"
        "      - when: {segment: stafff}\n        serve: on\n",
        ("features", "f", "rules", 0, "when", "segment"),
        6,
        "unknown segment 'stafff'",
    ),
    (
        "unknown prerequisite",
        "features:\n  f:\n    requires: [g]\n",
        ("features", "f", "requires", 0),
        3,
        "requires unknown flag 'g'",
    ),
    (
        "unknown field",
        "features:\n  f:\n    enabeld: false\n",
        ("features", "f", "enabeld"),
        3,
        "unknown field",
    ),
    (
        "wrong type for enabled (YAML 1.2: off is a string)",
        "features:\n  f:\n    enabled: off\n",
        ("features", "f", "enabled"),
        3,
        "YAML 1.2 reads `off` as a string; write false",
    ),
    (
        "semver written as a float",
        "features:\n  f:\n    rules:\n      - when: {v: {semver_gte: 1.10}}\n        serve: on\n",
        ("features", "f", "rules", 0, "when", "v", "semver_gte"),
        4,
        "quoted string",
    ),
    (
        "variants given without default",
        "features:\n  f:\n    variants: {a: 1}\n",
        ("features", "f"),
        2,
        "`default` is required",
    ),
    (
        "finer than 0.001 %",
        "features:\n  f:\n    rules:\n      - serve: {on: 10.0001, off: 89.9999}\n",
        ("features", "f", "rules", 0, "serve", "on"),
        4,
        "finer than 0.001",
    ),
    (
        "serve of the wrong type",
        "features:\n  f:\n    rules:\n      - serve: [on]\n",
        ("features", "f", "rules", 0, "serve"),
        4,
        "variant name or a {variant: percent} mapping",
    ),
]


@pytest.mark.parametrize(
    ("label", "text", "path", "line", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES]
)
def test_schema_errors_are_located(
    label: str, text: str, path: tuple[Any, ...], line: int, message: str
) -> None:
    error = error_of(text)
    issue = next((i for i in error.issues if i.path == path), None)
    assert issue is not None, f"no issue at {path}: {error.issues}"
    assert message in issue.message
    assert issue.line == line
    assert issue.source == "flags.yaml"
    assert issue.flag == "f"
    assert f"flags.yaml:{line}" in str(error)


def test_prerequisite_cycle_is_an_error() -> None:
    error = error_of(
        "features:\n  a: {requires: [b]}\n  b: {requires: [c]}\n  c: {requires: [a]}\n  d: {requires: [d]}\n"
    )
    text = str(error)
    assert "prerequisite cycle" in text
    assert "cannot require itself" in text


def test_segment_cycle_is_an_error() -> None:
    error = error_of(
        "segments:\n  s1: {segment: s2}\n  s2: {segment: s1}\nfeatures:\n  f:\n"
        "    rules:\n      - when: {segment: s1}\n        serve: on\n"
    )
    assert "refers to itself" in str(error)


def test_all_issues_are_reported_at_once() -> None:
    error = error_of(
        "features:\n  a:\n    rules:\n      - serve: nope\n  b:\n    rules:\n      - serve: {on: 1}\n"
        "  c:\n    rules:\n      - when: {x: {bogus: 1}}\n        serve: on\n"
    )
    flags = {issue.flag for issue in error.issues}
    assert flags == {"a", "b", "c"}
    assert str(error).startswith("3 problems in flags.yaml")


def test_top_level_must_be_a_mapping() -> None:
    assert "must be a mapping" in str(error_of("- a\n- b\n"))


def test_file_errors_carry_the_path(tmp_path: Path) -> None:
    path = tmp_path / "features.yaml"
    path.write_text("features:\n  f:\n    rules:\n      - serve: {on: 5, off: 5}\n")
    with pytest.raises(ConfigError) as info:
        FlagSet.from_file(path)
    assert str(info.value).startswith(f"{path}:4: features.f.rules[0].serve:")


@pytest.mark.parametrize("text", ["", "# all flags temporarily removed\n", "---\n", "~\n", "null\n", "{}\n"])
def test_an_empty_document_is_an_error_not_zero_flags(text: str) -> None:
    """A truncated write or a broken upload must never turn every flag off."""
    error = error_of(text)
    assert "empty" in str(error) or "needs a top-level `features`" in str(error)


def test_an_explicitly_empty_flag_file_is_allowed() -> None:
    assert len(load("features: {}\n")) == 0
    assert len(FlagSet.from_bytes(b'{"features": {}}', fmt="json")) == 0


# --- semantics --------------------------------------------------------------------------------


def flags_for(yaml_text: str) -> Flags:
    return Flags.from_dict(read_document(yaml_text))


def test_static_flags() -> None:
    flags = flags_for("features:\n  a: true\n  b: green\n  c: 3\n  d: 2.5\n")
    assert flags.evaluate("a", False).reason is Reason.STATIC
    assert flags.evaluate("a", False).variant == "on"
    assert flags.get_value("b", "") == "green"
    assert flags.get_value("c", 0) == 3
    assert flags.get_value("d", 0.0) == 2.5


def test_full_flag_without_rules_is_static_default() -> None:
    flags = flags_for("features:\n  f:\n    variants: {a: 1, b: 2}\n    default: b\n")
    result = flags.evaluate("f", 0)
    assert (result.value, result.variant, result.reason) == (2, "b", Reason.STATIC)


def test_boolean_flag_defaults_to_off() -> None:
    flags = flags_for("features:\n  f:\n    description: no variants\n")
    assert flags.evaluate("f", True).value is False
    assert flags.evaluate("f", True).variant == "off"


def test_first_matching_rule_wins_and_is_named() -> None:
    flags = flags_for(
        "features:\n  f:\n    variants: {a: 1, b: 2, c: 3}\n    default: a\n    rules:\n"
        "      - name: us\n        when: {country: US}\n        serve: b\n"
        "      - when: {country: [US, CA]}\n        serve: c\n"
    )
    us = flags.evaluate("f", 0, {"country": "US"})
    assert (us.value, us.reason, us.rule) == (2, Reason.TARGETING_MATCH, "us")
    ca = flags.evaluate("f", 0, {"country": "CA"})
    assert (ca.value, ca.rule) == (3, "rules[1]")
    other = flags.evaluate("f", 0, {"country": "FR"})
    assert (other.value, other.reason, other.rule) == (1, Reason.DEFAULT, None)


SWITCHED_OFF_CASES = [
    # The issue's case: a boolean flag whose default is on, a rule keeping a country off.
    ({"default": "on", "rules": [{"when": {"country": "XX"}, "serve": "off"}]}, (False, "off")),
    ({"default": "on"}, (False, "off")),
    # Written-out boolean variants: the false one, whatever its name.
    ({"variants": {"yes": True, "no": False}, "default": "yes"}, (False, "no")),
    # The file says otherwise, explicitly: off_variant wins.
    ({"default": "on", "off_variant": "on"}, (True, "on")),
    ({"variants": {"a": "A", "b": "B"}, "default": "a", "off_variant": "b"}, ("B", "b")),
    # No false variant and no off_variant: the default (kill/validate speak up about it).
    ({"variants": {"a": "A", "b": "B"}, "default": "a"}, ("A", "a")),
    ({"variants": {"a": "A"}, "default": "code_default"}, ("mine", None)),
]


@pytest.mark.parametrize(("definition", "expected"), SWITCHED_OFF_CASES)
def test_switched_off_means_one_thing(definition: dict[str, Any], expected: tuple[Any, Any]) -> None:
    """Killed, prerequisite failed and guard tripped serve the same "off" (issue 16): a
    switched-off boolean flag is off unless ``off_variant`` says otherwise."""
    from flagkit._client.layers import off_resolution
    from flagkit._engine.compiler import switched_off_variant

    flags = Flags.from_dict(
        {
            "features": {
                "killed": {**definition, "enabled": False},
                "gated": {**definition, "requires": ["parent"]},
                "parent": False,
                "live": definition,
            }
        }
    )
    caller = "mine" if expected[1] is None else type(expected[0])()  # a default of the flag's type
    killed = flags.evaluate("killed", caller, {"country": "FR"})
    assert (killed.value, killed.variant, killed.reason) == (*expected, Reason.DISABLED)
    gated = flags.evaluate("gated", caller, {"country": "FR"})
    assert (gated.value, gated.variant, gated.reason) == (*expected, Reason.PREREQUISITE_FAILED)
    live = flags.get_flag("live")
    assert live is not None
    tripped = off_resolution(live)
    assert (tripped[1], tripped[2]) == (expected[1], Reason.GUARD_TRIPPED)
    assert switched_off_variant(live) == (expected[1] or "code_default")
    if expected[0] is not True:  # is_enabled agrees: off means off
        assert flags.is_enabled("killed", {"country": "FR"}) is False


def test_prerequisites() -> None:
    flags = flags_for(
        "features:\n  base:\n    rules:\n      - when: {plan: pro}\n        serve: on\n"
        "  child:\n    requires: [base]\n    rules:\n      - serve: on\n"
        "  off_base: false\n  grand:\n    requires: [child, off_base]\n    rules:\n      - serve: on\n"
    )
    assert flags.evaluate("child", False, {"plan": "pro"}).reason is Reason.TARGETING_MATCH
    failed = flags.evaluate("child", False, {"plan": "free"})
    assert (failed.value, failed.reason) == (False, Reason.PREREQUISITE_FAILED)
    assert flags.evaluate("grand", False, {"plan": "pro"}).reason is Reason.PREREQUISITE_FAILED


def test_segments_are_reusable() -> None:
    flags = flags_for(
        "segments:\n  staff: {email: {ends_with: '@corp.com'}}\n"
        "  insiders: {any: [{segment: staff}, {user_id: [u1, u2]}]}\n"
        "features:\n  f:\n    rules:\n      - when: {segment: insiders}\n        serve: on\n"
    )
    assert flags.is_enabled("f", {"email": "ann@corp.com"})
    assert flags.is_enabled("f", {"user_id": "u2"})
    assert not flags.is_enabled("f", {"user_id": "u3", "email": "x@y.z"})


def test_combinators() -> None:
    flags = flags_for(
        "features:\n  f:\n    rules:\n      - when:\n          all: [{a: 1}, {b: 2}]\n"
        "          any: [{c: 3}, {d: 4}]\n          not: {e: 5}\n        serve: on\n"
    )
    assert flags.is_enabled("f", {"a": 1, "b": 2, "c": 3})
    assert flags.is_enabled("f", {"a": 1, "b": 2, "d": 4, "e": 6})
    assert not flags.is_enabled("f", {"a": 1, "b": 2, "d": 4, "e": 5})
    assert not flags.is_enabled("f", {"a": 1, "c": 3})
    assert not flags.is_enabled("f", {"a": 1, "b": 2})


@pytest.mark.parametrize("how", ["all", "any"])
@pytest.mark.parametrize("size", [1, 2, 3, 8, 9])  # 9: past the largest generated predicate
def test_fused_equality_tests_answer_as_each_test_alone(how: str, size: int) -> None:
    """`all`/`any` of ``attr: "text"`` and ``attr: true`` tests compile to one generated
    predicate; it answers like the tests one by one, for matching, other, missing and
    oddly typed values (a string ``"true"`` is not ``true``, ``1`` is not ``True``)."""
    import itertools

    operands: list[Any] = [("x" if i % 2 else True) for i in range(size)]
    terms = [{f"a{i}": operand} for i, operand in enumerate(operands)]
    split = {"on": 100, "off": 0}  # a split rule: its own generated class
    features = {"f": {"rules": [{"when": {how: terms}, "serve": "on"}]},
                "s": {"rules": [{"when": {how: terms}, "serve": split}]}}  # fmt: skip
    flags = Flags.from_dict({"features": features})
    if how == "all":  # several keys of one mapping are their `all` too
        when = {key: operand for term in terms for key, operand in term.items()}
        keyed = Flags.from_dict({"features": {"f": {"rules": [{"when": when, "serve": "on"}]}}})
    choices: list[Any] = ["x", True, "true", 1, None, ["x"]]
    for values in itertools.islice(itertools.product(choices, repeat=size), 3000):
        ctx = {f"a{i}": value for i, value in enumerate(values) if value is not None} | {"user_id": "u"}
        each = [ctx.get(f"a{i}") is operand if operand is True else ctx.get(f"a{i}") == operand
                for i, operand in enumerate(operands)]  # fmt: skip
        expected = all(each) if how == "all" else any(each)
        assert flags.is_enabled("f", ctx) is expected, ctx
        assert flags.is_enabled("s", ctx) is expected, ctx
        if how == "all":
            assert keyed.is_enabled("f", ctx) is expected, ctx


def test_several_operators_on_one_attribute_are_anded() -> None:
    flags = flags_for(
        "features:\n  f:\n    rules:\n      - when: {age: {gte: 18, lt: 65}}\n        serve: on\n"
    )
    assert [flags.is_enabled("f", {"age": a}) for a in (17, 18, 64, 65)] == [False, True, True, False]


def test_nested_attribute_paths() -> None:
    flags = flags_for("features:\n  f:\n    rules:\n      - when: {user.plan: pro}\n        serve: on\n")
    assert flags.is_enabled("f", {"user": {"plan": "pro"}})
    assert flags.is_enabled("f", {"user.plan": "pro"})
    assert not flags.is_enabled("f", {"user": "pro"})


def test_split_without_bucketing_attribute_serves_default() -> None:
    flags = flags_for("features:\n  f:\n    rules:\n      - serve: {on: 100, off: 0}\n")
    result = flags.evaluate("f", True, {"country": "US"})
    assert (result.value, result.reason, result.rule) == (False, Reason.DEFAULT, "rules[0]")
    assert flags.evaluate("f", False, {"user_id": "x"}).reason is Reason.SPLIT
    assert flags.evaluate("f", False, {"targeting_key": "x"}).value is True


def test_split_bucket_by_custom_attribute() -> None:
    flags = flags_for(
        "features:\n  f:\n    bucket_by: account_id\n    rules:\n      - serve: {on: 100, off: 0}\n"
    )
    assert flags.evaluate("f", False, {"user_id": "u"}).reason is Reason.DEFAULT
    assert flags.evaluate("f", False, {"account_id": 42}).value is True


def test_example_file_is_valid(example_file: Path) -> None:
    flagset = FlagSet.from_file(example_file)
    assert flagset.unused_segments == frozenset()
    assert {"new_checkout", "new_search", "button_color", "new_recommendation_engine"} <= set(flagset.flags)


def test_errors_in_rules_are_reported_even_with_a_bad_default() -> None:
    error = error_of(
        "features:\n  f:\n    variants: {a: 1}\n    default: z\n    rules:\n"
        "      - when: {x: {bogus: 1}}\n        serve: a\n"
    )
    paths = {issue.path for issue in error.issues}
    assert ("features", "f", "default") in paths
    assert ("features", "f", "rules", 0, "when", "x", "bogus") in paths


def test_json_schema_accepts_the_example_and_rejects_mistakes(example_file: Path) -> None:
    import jsonschema

    from flagkit.document.reader import read_document
    from flagkit.document.schema import json_schema

    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(read_document(example_file.read_bytes()))) == []
    rule = {"when": {"country": {"equals": "US"}}, "serve": "on"}
    bad = {"features": {"f": {"enabeld": False, "rules": [rule]}}}
    messages = " ".join(e.message for e in validator.iter_errors(bad))
    assert "enabeld" in messages
    assert list(validator.iter_errors({"features": {"f": {"rules": [{"serve": 3}]}}}))


def test_example_file_exercises_every_operator(example_file: Path) -> None:
    from flagkit.document.reader import read_document
    from flagkit.document.schema import OPERATORS

    seen: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, dict) and key not in ("all", "any", "not"):
                    seen.update(k for k in value if k in OPERATORS)
                if key in ("all", "any", "not", "segment"):
                    seen.add(key)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    doc = read_document(example_file.read_bytes())
    walk(doc)
    written_flat = {"eq", "in"}  # written as `attr: value` and `attr: [a, b]` in the example
    assert set(OPERATORS) - written_flat <= seen, set(OPERATORS) - seen - written_flat
    assert {"all", "any", "not", "segment"} <= seen
    features = doc["features"]
    assert any(isinstance(f, dict) and f.get("enabled") is False for f in features.values())
    assert any(isinstance(f, dict) and f.get("requires") for f in features.values())
    assert any(isinstance(f, dict) and f.get("bucket_by") for f in features.values())
    assert any(isinstance(f, dict) and f.get("salt") for f in features.values())


def test_deeply_nested_json_conditions_are_a_load_error() -> None:
    cond: dict[str, Any] = {"country": "US"}
    for _ in range(500):
        cond = {"not": cond}
    data = json.dumps({"features": {"f": {"rules": [{"when": cond, "serve": "on"}]}}})
    with pytest.raises(ConfigError, match="nested deeper than 64"):
        FlagSet.from_bytes(data, fmt="json")


# --- bounds on recursion: any document is a ConfigError, never a RecursionError ---------------


def test_a_1500_deep_requires_chain_is_a_config_error_not_a_recursion_error() -> None:
    text = (
        "features:\n"
        + "".join(f"  f{i}: {{requires: [f{i + 1}]}}\n" for i in range(1500))
        + "  f1500: true\n"
    )
    error = error_of(text)
    assert [issue.message for issue in error.issues] == ["prerequisite chain deeper than 64 flags"]
    (issue,) = error.issues
    assert issue.flag == "f1435"  # 65 flags from the end of the chain
    assert issue.line == 1437


def test_a_64_deep_requires_chain_loads_and_evaluates() -> None:
    features: dict[str, Any] = {
        f"f{i}": {"requires": [f"f{i + 1}"], "rules": [{"serve": "on"}]} for i in range(63)
    }
    features["f63"] = {"rules": [{"serve": "on"}]}
    flags = Flags.from_dict(features)
    assert flags.evaluate("f0", False).reason is Reason.TARGETING_MATCH


def test_long_prerequisite_cycles_do_not_recurse() -> None:
    text = "features:\n" + "".join(f"  f{i}: {{requires: [f{(i + 1) % 3000}]}}\n" for i in range(3000))
    assert "prerequisite cycle" in str(error_of(text))


def test_diamonds_of_prerequisites_are_bounded() -> None:
    # Each level requires two flags that both require the next level: 2**25 evaluations.
    features: dict[str, Any] = {}
    for i in range(25):
        features[f"f{i}"] = {"requires": [f"a{i}", f"b{i}"], "rules": [{"serve": "on"}]}
        features[f"a{i}"] = features[f"b{i}"] = {"requires": [f"f{i + 1}"], "rules": [{"serve": "on"}]}
    features["f25"] = True
    with pytest.raises(ConfigError, match="more than 1,000 times") as info:
        FlagSet.from_dict(features)
    assert len(info.value.issues) == 1


@pytest.mark.parametrize("length", [100, 1500])
def test_chains_of_segments_are_bounded(length: int) -> None:
    segments: dict[str, Any] = {f"s{i}": {"segment": f"s{i + 1}"} for i in range(length)}
    segments[f"s{length}"] = {"country": "US"}
    doc = {"segments": segments, "features": {"f": {"rules": [{"when": {"segment": "s0"}, "serve": "on"}]}}}
    with pytest.raises(ConfigError, match="nested deeper than 64 levels"):
        FlagSet.from_bytes(json.dumps(doc), fmt="json")


def test_segment_depth_counts_where_the_segment_is_used() -> None:
    inner: dict[str, Any] = {"country": "US"}
    for _ in range(40):
        inner = {"not": inner}
    used_deep: dict[str, Any] = {"segment": "deep"}
    for _ in range(30):
        used_deep = {"not": used_deep}
    ok = {
        "segments": {"deep": inner},
        "features": {"f": {"rules": [{"when": {"segment": "deep"}, "serve": "on"}]}},
    }
    assert FlagSet.from_dict(ok)
    bad = {"segments": {"deep": inner}, "features": {"f": {"rules": [{"when": used_deep, "serve": "on"}]}}}
    with pytest.raises(ConfigError, match="counting segment 'deep'"):
        FlagSet.from_dict(bad)


def test_self_containing_python_values_are_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ConfigError, match="nesting deeper"):
        FlagSet.from_dict({"f": {"variants": {"a": loop}, "default": "a"}})


def test_unexpected_errors_become_a_config_error_naming_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    import flagkit.flagset

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("secret-token-in-the-message")

    monkeypatch.setattr(flagkit.flagset, "compile_document", broken)
    for load_it in (
        lambda: FlagSet.from_bytes(b"features: {a: true}\n", source="prod.yaml"),
        lambda: FlagSet.from_dict({"a": True}, source="prod.yaml"),
    ):
        with pytest.raises(ConfigError) as info:
            load_it()
        assert isinstance(info.value.__cause__, ZeroDivisionError)
        assert info.value.source == "prod.yaml"
        assert "ZeroDivisionError" in str(info.value)
        assert "secret-token" not in str(info.value)
        assert all(issue.source == "prod.yaml" for issue in info.value.issues)


def test_loading_a_bad_file_lists_schema_and_compiler_problems_together(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(
        "features:\n"
        "  a:\n"
        "    enabled: maybe\n"  # schema
        "  b:\n"
        "    requires: [a]\n"
        "    default: nope\n"  # compiler: not a variant
        "  c:\n"
        "    rules:\n"
        "      - serve: {on: 50, off: 40}\n"  # compiler: weights
        "  d: {rules: [{when: {x: {bogus: 1}}, serve: on}]}\n"  # compiler: operator
    )
    for load_it in (lambda: Flags.from_file(path, watch=False), lambda: FlagSet.from_file(path)):
        with pytest.raises(ConfigError) as info:
            load_it()
        issues = info.value.issues
        assert [(i.flag, i.line) for i in issues] == [("a", 3), ("b", 6), ("c", 9), ("d", 10)]
        assert str(info.value).startswith(f"4 problems in {path}")
        assert not any("requires unknown flag" in i.message for i in issues)


OBJECT_FLAGS: dict[str, Any] = {
    "features": {
        "config": {"variants": {"a": {"limits": [1, 2], "name": "x"}, "b": [1, {"k": "v"}]}, "default": "a"},
        "list_cfg": {"variants": {"l": [1, {"k": "v"}]}, "default": "l"},
        "plain": {"variants": {"one": 1, "two": 2}, "default": "one"},
    }
}


@pytest.mark.parametrize("key", ["config", "list_cfg", "plain"])
def test_compiled_variants_are_read_only_and_do_not_change_what_is_served(key: str) -> None:
    # issue 17: CompiledFlag.variants (get_flag, snapshot) is shared by every request
    flags = Flags.from_dict(OBJECT_FLAGS)
    before = flags.get_value(key, None)
    with flags.snapshot() as snap:
        views = [flags.get_flag(key), snap.flags[key]]
    for flag in views:
        assert flag is not None
        with pytest.raises(TypeError):
            flag.variants["new"] = 1  # type: ignore[index]
        for value in flag.variants.values():
            if isinstance(value, dict):
                for method, args in (("__setitem__", ("x", 1)), ("clear", ()), ("update", ({"x": 1},))):
                    with pytest.raises(TypeError):
                        getattr(value, method)(*args)
                with pytest.raises(TypeError):
                    value["limits"].append(3)
                assert value == {"limits": [1, 2], "name": "x"}
            if isinstance(value, list):
                for method, args in (("append", (3,)), ("clear", ()), ("__setitem__", (0, 9))):
                    with pytest.raises(TypeError):
                        getattr(value, method)(*args)
                with pytest.raises(TypeError):
                    value[1]["k"] = "changed"
        assert json.loads(json.dumps(dict(flag.variants)))  # still plain JSON to tools
    assert flags.get_value(key, None) == before
    served = flags.get_value(key, None)
    if isinstance(served, dict):  # what the caller gets is its own plain, mutable copy
        assert type(served) is dict
        assert type(served["limits"]) is list
        served["limits"].append(3)
    if isinstance(served, list):
        assert type(served) is list
        assert type(served[1]) is dict
        served[1]["k"] = "changed"
        served.append(3)
    assert flags.get_value(key, None) == before
    flags.close()
