"""Errors that teach: did-you-mean, YAML positions, no pydantic wording, the YAML `on` trap,
and the once-per-key warning for a typo'd key or a wrong default in production."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import re
from pathlib import Path

import pytest

from flagkit import ConfigError, Flags, SourceError
from flagkit._links import DOCS_URL
from flagkit._tools.lint import lint
from flagkit.flagset import FlagSet
from tests.cli.runner import run_process as run_cli


def issues_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        FlagSet.from_bytes(text.encode(), source="flags.yaml")
    return [str(issue) for issue in info.value.issues]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "features:\n  f:\n    variants: {green: 1, blue: 2}\n    default: grean\n",
            "flags.yaml:4: features.f.default: 'grean' is not a variant of this flag; did you mean 'green'?",
        ),
        (
            "features:\n  f:\n    rules:\n      - when: {plan: {eqq: pro}}\n        serve: on\n",
            "features.f.rules[0].when.plan.eqq: unknown operator 'eqq'; did you mean 'eq'?",
        ),
        (
            "features:\n  f:\n    defualt: on\n",
            "flags.yaml:3: features.f.defualt: unknown field; did you mean 'default'?",
        ),
        (
            "features:\n  f:\n    rules:\n      - whn: {plan: pro}\n        serve: on\n",
            "features.f.rules[0].whn: unknown field; did you mean 'when'?",
        ),
        (
            "features:\n  parent: true\n  f:\n    requires: [parnet]\n",
            "features.f.requires[0]: requires unknown flag 'parnet'; did you mean 'parent'?",
        ),
        (
            "segments:\n  staff: {plan: staff}\nfeatures:\n  f:\n    rules:\n"
            "      - when: {segment: staf}\n        serve: on\n",
            "unknown segment 'staf'; did you mean 'staff'?",
        ),
        (
            "features:\n  f:\n    bucketing: {scheme: unlesh}\n    rules: [{serve: {on: 50, off: 50}}]\n",
            "did you mean 'unleash'?",
        ),
    ],
)
def test_validate_suggests_the_closest_name(text: str, expected: str) -> None:
    assert any(expected in issue for issue in issues_of(text)), issues_of(text)


def test_no_suggestion_when_nothing_is_close() -> None:
    (issue,) = issues_of("features:\n  f:\n    variants: {green: 1}\n    default: zzzzzz\n")
    assert "did you mean" not in issue


BAD_TYPES = [
    "features:\n  f: {enabled: 3}\n",
    "features:\n  f: {rules: {x: 1}}\n",
    "features:\n  f: {variants: [a, b]}\n",
    "features:\n  f: {rules: [{serve: on, name: 3}]}\n",
    "features:\n  f: {expires: soon}\n",
    "features:\n  f: {track: maybe}\n",
    "features:\n  f: {rules: [{serve: {on: 50, off: 50}, ramp: {steps: x}}]}\n",
    "features:\n  f: {bucket_by: {input: 3}}\n",
    "features:\n  f: {variants: {a: 1}, default: a, rules: [{when: 3, serve: a}]}\n",
    "options: 3\nfeatures: {}\n",
    "features: []\n",
]


@pytest.mark.parametrize("text", BAD_TYPES)
def test_no_pydantic_wording_reaches_a_user(text: str) -> None:
    for issue in issues_of(text):
        assert not re.search(r"Input should|valid dictionary|Value error|pydantic|type=", issue), issue


def test_yaml_syntax_errors_give_line_column_and_flag() -> None:
    (issue,) = issues_of("features:\n  a: true\n  b: {variants: {x: 1}, default: x\n  c: false\n")
    assert re.match(r"flags\.yaml:4:\d+: features\.b: invalid YAML: ", issue), issue


def test_a_tab_is_named_as_such() -> None:
    (issue,) = issues_of("features:\n  a:\n\tvariants: {x: 1}\n")
    assert issue.startswith("flags.yaml:3:1: ")
    assert "tabs are not allowed for indentation" in issue


def test_duplicate_keys_give_the_full_path_and_both_lines() -> None:
    (issue,) = issues_of("features:\n  a:\n    variants: {x: 1}\n    default: x\n    default: x\n")
    assert "features.a.default: duplicate key 'default' (line 4 and line 5)" in issue


def test_a_yaml_boolean_word_for_enabled_says_what_to_write() -> None:
    (issue,) = issues_of("features:\n  f:\n    enabled: off\n")
    assert "YAML 1.2 reads `off` as a string; write false" in issue


# --- the YAML `on` trap ---------------------------------------------------------------------


def test_a_static_flag_serving_on_as_a_string_is_a_warning(tmp_path: Path) -> None:
    data = 'features:\n  dark_mode: on\n  quoted: "yes"\n  real: true\n  off_flag: Off\n'
    path = tmp_path / "f.yaml"
    path.write_text(data, encoding="utf-8")
    flags = Flags.from_file(path, watch=False)
    assert flags.get_value("dark_mode", None) == "on"  # the trap itself: a string...
    assert flags.is_enabled("dark_mode") is False  # ...so the feature stays off
    flags.close()
    flagset = FlagSet.from_bytes(data.encode(), source="f.yaml")
    warnings = {w.path[-1]: w for w in lint(flagset, data=data)}
    assert set(warnings) == {"dark_mode", "off_flag"}  # the quoted word is meant as a string
    assert warnings["dark_mode"].code == "yaml-boolean-word"
    assert warnings["dark_mode"].line == 2
    assert "write `true`" in warnings["dark_mode"].message
    assert "write `false`" in warnings["off_flag"].message


@pytest.mark.slow
def test_validate_warns_and_strict_fails_on_the_on_trap(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("features:\n  dark_mode: on\n", encoding="utf-8")
    ok = run_cli("validate", str(path))
    assert ok.returncode == 0
    assert "[yaml-boolean-word]" in ok.stdout
    assert run_cli("validate", "--strict", str(path)).returncode == 1
    as_json = json.loads(run_cli("validate", "--json", str(path)).stdout)
    assert [w["code"] for w in as_json["files"][0]["warnings"]] == ["yaml-boolean-word"]


def test_json_strings_are_never_the_trap(tmp_path: Path) -> None:
    data = '{"features": {"a": "on"}}'
    assert lint(FlagSet.from_bytes(data.encode(), source="f.json", fmt="json"), data=data) == []


# --- a typo'd key or a wrong default, in production ---------------------------------------------


def test_a_missing_key_is_logged_once_with_the_call_site(caplog: pytest.LogCaptureFixture) -> None:
    flags = Flags.from_dict({"new_checkout": True})
    with caplog.at_level(logging.WARNING, logger="flagkit"):
        for _ in range(3):
            assert flags.is_enabled("new_chekout", {"email": "secret@example.com"}) is False
            assert flags.get_value("new_chekout", 5) == 5
            flags.evaluate("new_chekout", False)
            flags.variant("new_chekout")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1, messages
    assert "flag 'new_chekout' is not defined" in messages[0]
    assert __name__ in messages[0]  # the caller's module, not flagkit's
    assert "secret@example.com" not in caplog.text  # never a context value


def test_a_type_mismatch_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    flags = Flags.from_dict({"limit": 3})
    with caplog.at_level(logging.WARNING, logger="flagkit"):
        for _ in range(3):
            assert flags.get_value("limit", "ten") == "ten"
            assert flags.evaluate("limit", "ten").value == "ten"
        assert flags.get_value("limit", 2.0) == 3.0  # an int for a float default is fine
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        f"flagkit: flag 'limit' serves an integer but the code's default is a string (evaluated in "
        f"{messages[0].split('evaluated in ')[1].split(')')[0]}): the default is served"
    ]
    assert __name__ in messages[0]


def test_nothing_is_logged_before_flags_are_loaded_or_for_hits(caplog: pytest.LogCaptureFixture) -> None:
    empty = Flags()  # no provider: every key misses, which says nothing about a typo
    with caplog.at_level(logging.WARNING, logger="flagkit"):
        empty.is_enabled("anything")
        flags = Flags.from_dict({"a": True, "n": 1})
        flags.is_enabled("a")
        flags.get_value("n", 0)
    assert caplog.records == []


def test_the_warned_keys_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    flags = Flags.from_dict({"a": True})
    with caplog.at_level(logging.WARNING, logger="flagkit"):
        for i in range(1500):
            flags.is_enabled(f"dynamic-{i}")
    assert len(caplog.records) == 1000


# --- pointers a pip user can follow -----------------------------------------------------------


def test_project_urls_name_the_docs_that_messages_point_to() -> None:
    entries = importlib.metadata.metadata("pyflagkit").get_all("Project-URL") or []
    urls = dict(entry.split(", ", 1) for entry in entries)
    assert urls["Documentation"] == DOCS_URL
    assert {"Homepage", "Changelog", "Issues"} <= set(urls)


@pytest.mark.slow
def test_help_points_to_the_docs_url_not_a_local_path() -> None:
    proc = run_cli("--help")
    assert f"{DOCS_URL}/cli.md" in proc.stdout.replace("\n", "")
    assert " docs/" not in proc.stdout


# --- issue 18: what the loader and the client say ---------------------------------------------


def test_an_unterminated_string_says_where_it_began() -> None:
    text = 'features:\n  a: true\n  b: "unterminated\n  c: false\n'
    (issue,) = issues_of(text)
    assert "while scanning a quoted scalar at line 3, column 6" in issue
    assert "closing quote" in issue


def test_json_errors_give_the_column() -> None:
    with pytest.raises(ConfigError) as info:
        FlagSet.from_bytes(b'{"features": {"a": true,,}}', source="flags.json")
    assert str(info.value.issues[0]).startswith("flags.json:1:25: invalid JSON")


def test_from_file_of_a_missing_file_suggests_the_one_beside_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "features.yaml").write_text("features:\n  a: true\n")
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="flagkit"), pytest.raises(SourceError) as info:
        Flags.from_file("config/features.yml")
    assert str(info.value) == "config/features.yml: no such file; did you mean 'config/features.yaml'?"
    assert caplog.records == []  # raised, not also logged
    with pytest.raises(
        SourceError, match=r"config/featurs\.yaml: no such file; did you mean 'config/features\.yaml'"
    ):
        Flags.from_file("config/featurs.yaml")
    with pytest.raises(SourceError, match=r"^elsewhere/x\.yaml: no such file$"):
        Flags.from_file("elsewhere/x.yaml")


def test_a_path_given_to_flags_points_at_from_file() -> None:
    with pytest.raises(
        TypeError, match=r"got str: to load a flag file, use Flags\.from_file\('config/features\.yaml'\)"
    ):
        Flags("config/features.yaml")  # type: ignore[arg-type]  # the mistake under test
    with pytest.raises(TypeError, match=r"got PosixPath: to load a flag file|got WindowsPath: to load"):
        Flags(Path("f.yaml"))  # type: ignore[arg-type]  # the mistake under test


def test_a_missing_key_at_run_time_suggests_the_closest(caplog: pytest.LogCaptureFixture) -> None:
    with (
        Flags.from_dict({"new_checkout": True, "percent%flag": False}) as flags,
        caplog.at_level(logging.WARNING, logger="flagkit"),
    ):
        flags.is_enabled("new_chekout")
        flags.is_enabled("percent%flagg")
        flags.is_enabled("zzz")
    messages = [r.getMessage() for r in caplog.records]
    assert "flag 'new_chekout' is not defined; did you mean 'new_checkout'? (evaluated in " in messages[0]
    assert "did you mean 'percent%flag'?" in messages[1]
    assert "flag 'zzz' is not defined (evaluated in " in messages[2]


def test_counts_and_kinds_read_as_english() -> None:
    with Flags.from_dict({"a": True}) as one, Flags.from_dict({"a": True, "n": 1}) as two:
        assert repr(one).endswith(" 1 flag>")
        assert repr(two).endswith(" 2 flags>")
        result = two.evaluate("n", "x")
    assert result.error_message == "flag 'n' serves an integer, but the default is a string"


def test_through_openfeature_the_log_names_the_application(caplog: pytest.LogCaptureFixture) -> None:
    api = pytest.importorskip("openfeature.api")
    from flagkit.integrations.openfeature import FlagkitProvider

    flags = Flags.from_dict({"new_checkout": True})
    api.set_provider_and_wait(FlagkitProvider(flags))
    try:
        client = api.get_client()
        with caplog.at_level(logging.WARNING, logger="flagkit"):
            client.get_boolean_value("new_chekout", False)
        details = client.get_object_details("new_checkout", {})
    finally:
        api.clear_providers()
        flags.close()
    (message,) = [r.getMessage() for r in caplog.records if "is not defined" in r.getMessage()]
    assert f"(evaluated in {__name__}:" in message
    assert details.error_message == "flag 'new_checkout' serves a boolean, but the default is a mapping"


# --- issue 18: conditions that can never match ---------------------------------------------


NEVER = """\
features:
  f:
    rules:
      - when: {country: {eq: [US]}}
        serve: on
      - when: {premium: "true"}
        serve: on
      - when: {plan: {ne: [free, trial]}}
        serve: on
      - when: {any: [{beta: ["true", "false"]}, {not: {vip: "false"}}]}
        serve: on
      - when: {premium: true, country: [US, CA], plan: [pro, "false"], name: "truely", tier: {eq: gold}}
        serve: on
segments:
  staff: {staff: "TRUE"}
"""


def test_conditions_that_can_never_match_are_warned() -> None:
    flagset = FlagSet.from_bytes(NEVER.encode(), source="flags.yaml")
    warnings = [w for w in lint(flagset, data=NEVER) if w.code == "never-matches"]
    found = {(w.line, ".".join(map(str, w.path))) for w in warnings}
    assert found == {
        (4, "features.f.rules.0.when.country.eq"),
        (6, "features.f.rules.1.when.premium"),
        (8, "features.f.rules.2.when.plan.ne"),
        (10, "features.f.rules.3.when.any.0.beta"),
        (10, "features.f.rules.3.when.any.1.not.vip"),
        (15, "segments.staff.staff"),
    }
    by_path = {w.path[-1]: w.message for w in warnings}
    assert "write `country: [US]`" in by_path["eq"]
    assert "never matches a plain value" in by_path["eq"]
    assert "always matches" in by_path["ne"]
    assert "write `premium: true`" in by_path["premium"]
    assert "write `beta: [true, false]`" in by_path["beta"]
    # The warnings are right: these conditions really never match the plain values.
    rules = {
        "eq_list": {"country": {"eq": ["US"]}},
        "text_true": {"premium": "true"},
    }
    doc = {"features": {k: {"rules": [{"when": w, "serve": "on"}]} for k, w in rules.items()}}
    with Flags.from_dict(doc) as flags:
        assert flags.is_enabled("eq_list", {"country": "US"}) is False
        assert flags.is_enabled("text_true", {"premium": True}) is False


def test_text_booleans_under_ne_and_not_in_suggest_the_same_operator() -> None:
    # `premium: {ne: "false"}` always matches; "write `premium: false`" would invert the rule.
    text = """\
features:
  f:
    rules:
      - when: {premium: {ne: "false"}}
        serve: on
      - when: {beta: {not_in: ["true"]}}
        serve: on
      - when: {vip: {eq: "true"}}
        serve: on
"""
    flagset = FlagSet.from_bytes(text.encode(), source="flags.yaml")
    by_op = {w.path[-1]: w.message for w in lint(flagset, data=text) if w.code == "never-matches"}
    assert "write `premium: {ne: false}`" in by_op["ne"]
    assert "so `ne` always matches" in by_op["ne"]
    assert "write `beta: {not_in: [true]}`" in by_op["not_in"]
    assert "write `vip: true`" in by_op["eq"]
    doc = {"features": {"f": {"rules": [{"when": {"premium": {"ne": False}}, "serve": "on"}]}}}
    with Flags.from_dict(doc) as flags:  # the suggested spelling keeps the rule's meaning
        assert flags.is_enabled("f", {"premium": True}) is True
        assert flags.is_enabled("f", {"premium": False}) is False


def test_documents_of_text_contexts_are_not_warned() -> None:
    text = "options: {numeric_strings: true}\n" + NEVER
    flagset = FlagSet.from_bytes(text.encode(), source="flags.yaml")
    codes = [w.path[-1] for w in lint(flagset, data=text) if w.code == "never-matches"]
    assert codes == ["eq", "ne"]  # the list comparisons still never match; the text is meant


def test_validate_prints_never_matches(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(NEVER)
    proc = run_cli("validate", path)
    assert proc.returncode == 0
    assert f"{path}:4: warning: features.f.rules[0].when.country.eq: `eq` compares 'country'" in proc.stdout
    assert run_cli("validate", "--strict", path).returncode == 1
