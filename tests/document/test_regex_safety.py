"""The `matches` pattern guard: safe patterns load, backtracking-prone ones are refused."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flagkit import ConfigError, Flags
from flagkit._engine.operators import MAX_MATCH_LENGTH
from flagkit.document.regex_safety import UnsafePattern, check_regex_safety

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


# --- the guard, proven: every accepted pattern is fast on adversarial input -------------------

BUDGET_S = 0.050
"""CPU time one evaluation of an accepted pattern may take. Refused patterns of the kind the
guard exists for take seconds on a few dozen characters, so a generous bound measured in this
thread's CPU time (not wall time) cannot flake on a loaded machine, yet fails on a weak guard."""

ALPHABET = "ab1 _."
atoms = st.sampled_from(["a", "b", "1", " ", r"\.", ".", r"\w", r"\d", r"\s", "[ab]", "[^b]", r"\W"])
quantifiers = st.one_of(
    st.sampled_from(["", "", "*", "+", "?", "*?", "+?"]),
    st.tuples(st.integers(0, 3), st.integers(0, 40)).map(lambda t: f"{{{t[0]},{t[0] + t[1]}}}"),
    st.integers(1, 5).map(lambda n: f"{{{n}}}"),
    st.integers(0, 3).map(lambda n: f"{{{n},}}"),
)


def _grammar(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    sequence = st.lists(inner, min_size=1, max_size=3).map("".join)
    return st.one_of(
        st.tuples(sequence, quantifiers).map(lambda t: f"({t[0]}){t[1]}"),
        st.tuples(sequence, quantifiers).map(lambda t: f"(?:{t[0]}){t[1]}"),
        st.tuples(sequence, sequence, quantifiers).map(lambda t: f"({t[0]}|{t[1]}){t[2]}"),
        sequence,
    )


terms = st.recursive(st.tuples(atoms, quantifiers).map("".join), _grammar, max_leaves=8)
patterns = st.tuples(st.sampled_from(["", "^"]), terms, st.sampled_from(["", "$"])).map("".join)


def adversarial_inputs(pattern: str) -> list[str]:
    """Long runs of the characters the pattern can match, then one that spoils the match."""
    chars = [c for c in ALPHABET if c in pattern] or ["a"]
    if any(cls in pattern for cls in (r"\w", r"\d", ".", "[")):
        chars += ["a", "1"]
    if r"\s" in pattern:
        chars.append(" ")
    out = []
    for length in (26, 41, 100, 511, 1024, 50_000):
        for tail in ("!", "\n", ""):
            out += [c * length + tail for c in dict.fromkeys(chars)]
            out.append(("".join(chars) * length)[:length] + tail)
            out.append(("a " * length)[:length] + tail)
    return out


def cpu_seconds(fn: Callable[[], object]) -> float:
    """CPU time of this thread only: other threads of the test process cannot add to it."""
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def assert_fast(pattern: str) -> None:
    flags = Flags.from_dict({"f": {"rules": [{"when": {"s": {"matches": pattern}}, "serve": "on"}]}})
    for text in adversarial_inputs(pattern):
        spent = cpu_seconds(lambda: flags.is_enabled("f", {"s": text}))  # noqa: B023 - called at once
        if spent > BUDGET_S:  # a pause (GC, a page fault) once is not the pattern: measure again
            spent = min(spent, cpu_seconds(lambda: flags.is_enabled("f", {"s": text})))  # noqa: B023
        assert spent < BUDGET_S, f"{pattern!r} took {spent * 1000:.0f} ms CPU on {len(text)} chars"


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(patterns)
@example(r"^(\w+\s?){1,32}$")  # the issue's patterns: seconds on 26-41 characters with the old guard
@example(r"^(a+){1,32}$")
@example(r"(a|ab){1,32}c")
@example(r"a{1,32}a{1,32}a{1,32}b")
@example(r"(a*a{0,})?$")  # found by this test: repeats inside an optional group
@example(r"(?=a*a*a*b)")
@example(r"(a*.{0,25}b{1}){1}")  # found by CI: a repeat group of one
def test_every_accepted_pattern_is_fast_on_adversarial_input(pattern: str) -> None:
    try:
        check_regex_safety(pattern)
    except UnsafePattern:
        return  # refused at load: nothing to time
    assert_fast(pattern)


def test_the_generated_corpus_is_mostly_accepted_and_reaches_dangerous_shapes() -> None:
    accepted = refused = 0

    @settings(max_examples=300, deadline=None, database=None)
    @given(patterns)
    def probe(pattern: str) -> None:
        nonlocal accepted, refused
        try:
            check_regex_safety(pattern)
            accepted += 1
        except UnsafePattern:
            refused += 1

    probe()
    assert accepted > 100  # the timing test above times real patterns, not only skips
    assert refused > 10  # and the grammar does produce the shapes the guard exists for


@pytest.mark.parametrize(
    "pattern", [r"^(\w+\s?){1,32}$", r"^(a+){1,32}$", r"(a|ab){1,32}c", r"^(a{1,8}){1,8}$", r"(a+){2}"]
)
def test_bounded_outer_repeats_are_judged_like_unbounded_ones(pattern: str) -> None:
    with pytest.raises(UnsafePattern, match="exponential"):
        check_regex_safety(pattern)


@pytest.mark.parametrize("pattern", [r"(\d{1,3}\.){3}\d{1,3}", r"(ab){2,5}", r"(GET|POST) /", r"(?:a{2})*x"])
def test_bounded_repeats_of_unambiguous_groups_are_allowed(pattern: str) -> None:
    check_regex_safety(pattern)
    assert_fast(pattern)
