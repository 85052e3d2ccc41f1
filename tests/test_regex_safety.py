"""The `matches` pattern guard: safe patterns load, backtracking-prone ones are refused."""

from __future__ import annotations

import pytest

from flagkit import ConfigError, Flags
from flagkit.operators import MAX_MATCH_LENGTH
from flagkit.regex_safety import UnsafePattern, check_regex_safety

SAFE = [
    r"^[^@]+@[^@]+\.[a-z]+$",  # '@' separates the repeats
    r"^[a-z.]+@(partner|example)\.org$",
    r"^\d{3}-\d{4}$",
    r"(foo|bar)-\d+",
    r"(ab){2,5}",
    r".*beta",  # one repeat plus the search: quadratic
    r"^.*a.*b$",  # anchored, two repeats: quadratic
    r"(?i)^beta-[a-z]+$",
    r"^/api/v[0-9]+/",
    r"^Mozilla/5\.0 \(iPhone;",
]

UNSAFE = [
    (r"(a+)+$", "nested repetition"),
    (r"(x*)*y", "nested repetition"),
    (r"(a|ab)*c", "alternation"),
    (r"(\w)\1", "backreferences"),
    (r"^.*a.*a.*a.*b$", "polynomial"),  # quartic
    (r"^\d*\d*\d*\d*\d*x$", "polynomial"),
    (r".*.*.*.*=.*;", "polynomial"),
    (r"\d*\d*x", "polynomial"),  # unanchored: cubic
    (r"[^@]+@[^@]+\.[a-z]+$", "anchoring it with ^"),  # unanchored: cubic
    (r"^\w{0,1000}\w{0,1000}\w{0,1000}$", "polynomial"),  # wide bounded repeats count
    (r"([", "invalid regular expression"),
]


@pytest.mark.parametrize("pattern", SAFE)
def test_safe_patterns_are_accepted(pattern: str) -> None:
    check_regex_safety(pattern)


@pytest.mark.parametrize(("pattern", "reason"), UNSAFE)
def test_unsafe_patterns_are_refused(pattern: str, reason: str) -> None:
    with pytest.raises(UnsafePattern, match=reason.replace("^", r"\^")):
        check_regex_safety(pattern)


def test_an_unsafe_pattern_is_a_load_error_naming_the_flag() -> None:
    with pytest.raises(ConfigError) as info:
        Flags.from_dict({"f": {"rules": [{"when": {"s": {"matches": r"^.*a.*a.*a.*b$"}}, "serve": "on"}]}})
    issue = info.value.issues[0]
    assert issue.flag == "f"
    assert issue.path[-2:] == ("s", "matches")


def test_values_over_the_cap_never_match() -> None:
    flags = Flags.from_dict({"f": {"rules": [{"when": {"s": {"matches": "^a+$"}}, "serve": "on"}]}})
    assert flags.is_enabled("f", {"s": "a" * MAX_MATCH_LENGTH})
    assert not flags.is_enabled("f", {"s": "a" * (MAX_MATCH_LENGTH + 1)})
