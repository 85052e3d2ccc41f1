"""Every condition operator, with matching, non-matching, absent and wrong-typed values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from flagkit import flagset
from flagkit._engine.operators import OperandError, make_operator, parse_semver

MISSING = None  # an absent attribute reaches an operator as None

CASES: list[tuple[str, Any, list[Any], list[Any]]] = [
    # (operator, operand, values that match, values that do not)
    ("eq", "US", ["US"], ["us", "DE", 1, MISSING, ["US"]]),
    ("eq", 5, [5, 5.0], ["5", True, MISSING]),
    ("eq", True, [True], [1, "true", MISSING]),
    ("eq", 1, [1], [True]),
    ("ne", "US", ["DE", "us", 3], ["US", MISSING]),
    ("in", ["US", "CA", 3], ["US", "CA", 3], ["FR", "3", MISSING, ["US"], {"a": 1}]),
    ("in", [True], [True], [1, False]),
    ("in", [1], [1, 1.0], [True]),
    ("not_in", ["US", "CA"], ["FR", "us"], ["US", MISSING]),
    ("contains", "beta", ["public-beta", ["beta", "x"]], ["BETA", ["betas"], 3, MISSING]),
    ("contains", 7, [[1, 7]], [[1, "7"], "7", MISSING]),
    ("starts_with", "/api", ["/api/v1"], ["/web", 1, MISSING]),
    ("starts_with", ["/a", "/b"], ["/b/x"], ["/c"]),
    ("ends_with", "@example.com", ["ann@example.com"], ["ann@example.org", MISSING, 5]),
    (
        "matches",
        r"^[a-z]+@corp\.com$",
        ["ann@corp.com"],
        ["Ann@corp.com", "x" * 2000 + "@corp.com", 1, MISSING],
    ),
    ("gt", 10, [11, 10.5], [10, "11", True, MISSING]),
    ("gte", 10, [10, 11], [9.99, MISSING]),
    ("lt", 0, [-1, -0.5], [0, MISSING, False]),
    ("lte", 0, [0, -3], [0.1, MISSING]),
    ("semver_eq", "1.2.3", ["1.2.3", "v1.2.3", "1.2.3+build.5"], ["1.2.4", "1.2.3-rc.1", "junk", 1, MISSING]),
    ("semver_gt", "1.2.3", ["1.2.4", "1.10.0", "2.0.0-alpha"], ["1.2.3", "1.2.3-rc.1", "1.2", MISSING]),
    ("semver_gte", "2.0", ["2.0.0", "2.0.1"], ["2.0.0-rc.1", "1.99.99"]),
    ("semver_lt", "1.0.0", ["1.0.0-alpha", "0.9.9"], ["1.0.0", "1.0.1"]),
    ("semver_lte", "1.0.0", ["1.0.0", "1.0.0-beta.11"], ["1.0.1"]),
    (
        "before",
        "2026-01-01",
        ["2025-12-31", "2025-12-31T23:59:59Z", dt.date(2025, 1, 1), 0],
        ["2026-01-01", "2026-01-01T00:00:00+00:00", "not a date", MISSING, True],
    ),
    (
        "after",  # strict since 0.x: the same instant is not after (was at-or-after)
        "2026-01-01T12:00:00+02:00",
        ["2026-01-01T10:00:01Z", dt.datetime(2026, 6, 1, tzinfo=dt.UTC), 4_000_000_000],
        ["2026-01-01T10:00:00Z", "2026-01-01T09:59:59Z", "2025-06-01", MISSING],
    ),
    (
        "at_or_after",
        "2026-01-01T12:00:00+02:00",
        ["2026-01-01T10:00:00Z", "2026-01-01T10:00:00.000001Z"],
        ["2026-01-01T09:59:59.999Z", "2026-01-01T10:00:00", MISSING],
    ),
    ("at_or_before", "2026-01-01", ["2026-01-01", "2025-12-31T23:59:59Z"], ["2026-01-01T00:00:01Z"]),
    ("exists", True, ["", 0, False, "x"], [MISSING]),
    ("exists", False, [MISSING], ["", 0]),
]


@pytest.mark.parametrize(
    ("op", "operand", "hits", "misses"), CASES, ids=[f"{c[0]}-{c[1]!r}"[:40] for c in CASES]
)
def test_operator(op: str, operand: Any, hits: list[Any], misses: list[Any]) -> None:
    check = make_operator(op, operand)
    for value in hits:
        assert check(value) is True, f"{op} {operand!r} should match {value!r}"
    for value in misses:
        assert check(value) is False, f"{op} {operand!r} should not match {value!r}"


@pytest.mark.parametrize(
    ("op", "operand", "message"),
    [
        ("eq", None, "exists: false"),
        ("in", [], "non-empty list"),
        ("in", "US", "non-empty list"),
        ("in", [{"a": 1}], "list items"),
        ("starts_with", 3, "string"),
        ("gt", "10", "number"),
        ("gt", True, "number"),
        ("semver_gt", "one", "not a semantic version"),
        ("semver_gt", 1.1, "quoted string"),
        ("before", "soon", "RFC 3339"),
        ("exists", "yes", "true or false"),
        ("matches", "(x+)*y", "nested repetition"),
        ("matches", "(a|ab)*c", "alternation"),
        ("matches", r"(\w)\1", "backreferences"),
        ("matches", "[", "invalid regular expression"),
        ("bogus", 1, "unknown operator"),
    ],
)
def test_invalid_operands(op: str, operand: Any, message: str) -> None:
    with pytest.raises(OperandError, match=message.replace("(", r"\(").replace("*", r"\*")):
        make_operator(op, operand)


def test_safe_regexes_are_accepted() -> None:
    for pattern in [r"^\d{3}-\d{4}$", r"(foo|bar)-\d+", r"^[^@]+@(example|corp)\.com$", r"(ab){2,5}"]:
        make_operator("matches", pattern)


def test_semver_ordering_follows_spec() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0"]  # fmt: skip
    keys = [parse_semver(v) for v in ordered]
    assert keys == sorted(keys)  # type: ignore[type-var]  # None never occurs here
    assert parse_semver("01.2.3") is None
    assert parse_semver("1.2.3.4") is None


def test_now_uses_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    from flagkit import Flags

    monkeypatch.setattr(flagset, "now", lambda: dt.datetime(2029, 12, 31, tzinfo=dt.UTC).timestamp())
    flags = Flags.from_dict(
        {"f": {"rules": [{"when": {"now": {"after": "2030-01-01", "before": "2030-02-01"}}, "serve": "on"}]}}
    )
    assert flags.is_enabled("f") is False
    monkeypatch.setattr(flagset, "now", lambda: dt.datetime(2030, 1, 15, tzinfo=dt.UTC).timestamp())
    # The default clock (flagset.now) is looked up when the document compiles; rebuild.
    flags = Flags.from_dict(
        {"f": {"rules": [{"when": {"now": {"after": "2030-01-01", "before": "2030-02-01"}}, "serve": "on"}]}}
    )
    assert flags.is_enabled("f") is True


@pytest.mark.parametrize("prefix", ["v", "V"])
def test_a_version_prefix_v_or_upper_case_v_is_accepted_as_flagd_does(prefix: str) -> None:
    # flagd strips a `v`/`V` prefix before parsing (open-feature/flagd#1873, flagd-testbed 3.6.2).
    assert parse_semver(f"{prefix}1.2.3-rc.1+b5") == parse_semver("1.2.3-rc.1")
    assert make_operator("semver_gte", f"{prefix}2.0.0")("2.0.1")
    assert make_operator("semver_eq", "2.0.0")(f"{prefix}2.0.0")
    assert not make_operator("semver_eq", "2.0.0")(f"{prefix}{prefix}2.0.0")
    assert parse_semver("x1.2.3") is None
