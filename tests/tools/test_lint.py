"""Lint warnings on valid flag files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flagkit import FlagSet
from flagkit._tools.lint import LintWarning, lint

TODAY = dt.date(2026, 6, 1)


def run(text: str, today: dt.date = TODAY) -> list[LintWarning]:
    flagset = FlagSet.from_bytes(text.encode(), source="flags.yaml")
    return lint(flagset, today=today, data=text)


def test_examples_are_clean_before_any_expiry(example_file: Path) -> None:
    assert lint(FlagSet.from_file(example_file), today=TODAY) == []


def test_expired_flags_are_reported_with_their_line(example_file: Path) -> None:
    data = example_file.read_bytes()
    warnings = lint(FlagSet.from_file(example_file), today=dt.date(2027, 3, 1), data=data)
    assert [(w.code, w.flag) for w in warnings] == [("expired", "new_recommendation_engine")]
    (warning,) = warnings
    assert warning.path == ("features", "new_recommendation_engine", "expires")
    assert data.decode().splitlines()[warning.line - 1].strip() == "expires: 2027-01-31"  # type: ignore[operator]
    assert "expired on 2027-01-31 (29 days ago)" in warning.message


def test_expiry_is_strictly_after_the_date() -> None:
    text = "features:\n  f:\n    expires: 2026-06-01\n"
    assert run(text) == []
    assert [w.code for w in run(text, dt.date(2026, 6, 2))] == ["expired"]
    assert "1 day ago" in run(text, dt.date(2026, 6, 2))[0].message


def test_rules_after_a_catch_all_are_unreachable() -> None:
    text = (
        "features:\n"
        "  f:\n"
        "    rules:\n"
        "      - when: {country: US}\n"
        "        serve: on\n"
        "      - serve: {on: 10, off: 90}\n"
        "      - name: never\n"
        "        when: {plan: pro}\n"
        "        serve: on\n"
        "      - serve: off\n"
    )
    warnings = run(text)
    assert [(w.code, w.path, w.line) for w in warnings] == [
        ("unreachable-rule", ("features", "f", "rules", 2), 7),
        ("unreachable-rule", ("features", "f", "rules", 3), 10),
    ]
    assert "rule 'never' can never match: rules[1] has no `when`" in warnings[0].message
    assert str(warnings[0]) == (
        "flags.yaml:7: features.f.rules[2]: rule 'never' can never match: "
        "rules[1] has no `when` and catches everyone [unreachable-rule]"
    )


def test_a_last_catch_all_is_fine() -> None:
    text = "features:\n  f:\n    rules:\n      - when: {a: 1}\n        serve: on\n      - serve: off\n"
    assert run(text) == []


def test_single_variant_splits() -> None:
    text = (
        "features:\n"
        "  f:\n"
        "    rules:\n"
        "      - when: {a: 1}\n"
        "        serve: {on: 0, off: 100}\n"
        "      - when: {a: 2}\n"
        "        serve: {on: 100}\n"
        "      - when: {a: 3}\n"
        "        serve: {on: 0.001, off: 99.999}\n"
    )
    warnings = run(text)
    assert [(w.code, w.path[-2:]) for w in warnings] == [
        ("single-variant-split", (0, "serve")),
        ("single-variant-split", (1, "serve")),
    ]
    assert "split serves only 'off'" in warnings[0].message
    assert "write `serve: off`" in warnings[0].message


def test_unused_segments() -> None:
    text = (
        "segments:\n  used: {a: 1}\n  stale: {b: 2}\n"
        "features:\n  f:\n    rules:\n      - when: {segment: used}\n        serve: on\n"
    )
    (warning,) = run(text)
    assert (warning.code, warning.path, warning.line, warning.flag) == (
        "unused-segment",
        ("segments", "stale"),
        3,
        None,
    )


def test_segments_used_only_by_other_segments_count_as_used() -> None:
    text = (
        "segments:\n  base: {a: 1}\n  outer: {segment: base}\n"
        "features:\n  f:\n    rules:\n      - when: {segment: outer}\n        serve: on\n"
    )
    assert run(text) == []


def test_without_data_there_are_no_lines() -> None:
    flagset = FlagSet.from_dict({"features": {"f": {"expires": "2020-01-01"}}})
    (warning,) = lint(flagset, today=TODAY)
    assert warning.line is None
    assert str(warning).startswith("<dict>: features.f.expires: expired")


def test_static_flags_and_flagsets_without_documents() -> None:
    assert lint(FlagSet.from_dict({"a": True, "b": 3}), today=TODAY) == []
    assert lint(FlagSet.empty(), today=TODAY) == []


def test_a_disabled_flag_serving_a_truthy_value_without_off_variant() -> None:
    """Issue 16: switched off, a flag with no false variant serves its default; a truthy one
    is not an obvious "off", so validate says so unless off_variant makes it explicit."""
    text = (
        "features:\n"
        "  theme: {enabled: false, variants: {a: A, b: B}, default: a}\n"
        "  explicit: {enabled: false, variants: {a: A, b: B}, default: a, off_variant: a}\n"
        "  boolean: {enabled: false, default: on}\n"
        "  zero: {enabled: false, variants: {none: 0, some: 3}, default: none}\n"
        "  caller: {enabled: false, variants: {a: A}, default: code_default}\n"
        "  live: {variants: {a: A, b: B}, default: a}\n"
    )
    warnings = lint(FlagSet.from_bytes(text.encode(), source="f.yaml"), data=text)
    flagged = [w for w in warnings if w.code == "disabled-serves-truthy"]
    assert [(w.flag, w.line) for w in flagged] == [("theme", 2)]
    assert "everyone gets 'a' (\"A\")" in flagged[0].message
    assert "off_variant" in flagged[0].message
