"""Fuzzing evaluation: garbage in the context never raises into the application.

Every example flag and a flag per operator are evaluated with random contexts (wrong types,
huge integers, NaN, nested lists and maps, bytes, very long strings, objects whose dunder
methods raise). Data-like garbage must simply not match (a normal result); only objects that
raise from their own methods may turn an evaluation into the default with reason ERROR.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flagkit import Flags, Reason
from flagkit.document.schema import OPERATORS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "features.yaml"
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A valid operand for every operator, so each gets a flag of its own.
OPERANDS: dict[str, Any] = {
    "eq": 3, "ne": "x", "in": ["a", 1, True], "not_in": [2.5, "b"], "contains": "a",
    "starts_with": ["a", "b"], "ends_with": "z", "matches": r"^a.*b$", "gt": 1, "gte": 1.5,
    "lt": 10, "lte": -1, "semver_eq": "1.2.3", "semver_gt": "V1.0", "semver_gte": "2",
    "semver_lt": "v3.0.0-rc.1", "semver_lte": "1.0.0+b", "before": "2030-01-01",
    "after": "2020-01-01T00:00:00Z", "exists": True, "at_or_before": "now",
    "at_or_after": "2026-01-01", "in_cidr": ["10.0.0.0/8", "2001:db8::/32"],
    "any_element": {"gt": 2},
}  # fmt: skip
ATTRIBUTES = ["x", "user.plan", "targeting_key", "user_id", "now"]


def operator_flags() -> dict[str, Any]:
    assert set(OPERANDS) == set(OPERATORS)  # a new operator gets fuzzed too
    features: dict[str, Any] = {}
    for i, (op, operand) in enumerate(OPERANDS.items()):
        attribute = ATTRIBUTES[i % 4]
        features[f"op_{op}"] = {
            "variants": {"yes": [1, {"n": 2}], "no": {"k": "v"}},
            "default": "no",
            "bucket_by": attribute if attribute != "x" else None,
            "rules": [
                {"when": {attribute: {op: operand}}, "serve": "yes"},
                {"when": {"not": {"x": {op: operand}}}, "serve": {"yes": 50, "no": 50}},
            ],
        }
    features["literal_list"] = {"rules": [{"when": {"x": ["a", "b"], "user.plan": [1, 2]}, "serve": "on"}]}
    features["literal_scalar"] = {"rules": [{"when": {"x": "a", "y": True, "z": 3}, "serve": "on"}]}
    features["split_default_key"] = {"rules": [{"serve": {"on": 50, "off": 50}}]}
    features["gated"] = {"requires": ["op_eq", "literal_list"], "rules": [{"serve": "on"}]}
    return features


EXAMPLE_FLAGS = Flags.from_file(EXAMPLES, watch=False)
OPERATOR_FLAGS = Flags.from_dict(operator_flags())
OPERATOR_KEYS = OPERATOR_FLAGS.keys()


class Hostile:
    """An object whose every dunder raises (as a buggy user model might)."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __lt__(self, other: object) -> bool:
        raise RuntimeError("lt")

    def __bool__(self) -> bool:
        raise RuntimeError("bool")

    def __len__(self) -> int:
        raise RuntimeError("len")


data_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([-(10**400), 2**64, 2**1000, -(2**63) - 1]),
    st.builds(pow, st.just(10), st.integers(4301, 5000)),  # too long to print (a repr would fail)
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0]),
    st.text(max_size=30),
    st.sampled_from(["a" * 100_000 + "b", "1.2.3", "V2.0.0", "v1.0.0-rc.1", "2026-01-01",
                     "2026-01-01T00:00:00+99:00", "9" * 5000, "\ud800", "a\x00b",
                     "9999-12-31T23:59:59-23:59"]),
    st.binary(max_size=20),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.dates(),
)  # fmt: skip
data_values = st.recursive(
    data_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.frozensets(st.integers() | st.text(max_size=5), max_size=3),
        st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=4),
    ),
    max_leaves=10,
)
hostile_values = st.one_of(
    data_values, st.builds(Hostile), st.lists(st.builds(Hostile), max_size=2), st.just(object())
)
NAMES = ["x", "y", "z", "user", "user.plan", "targeting_key", "user_id", "email", "country", "plan",
         "premium", "app_version", "now", "org", "signup"]  # fmt: skip


def contexts(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[Any, Any]]:
    nested = st.fixed_dictionaries({}, optional={"plan": values, "id": values})
    return st.dictionaries(st.sampled_from(NAMES), st.one_of(values, nested), max_size=6)


def evaluate_everything(flags: Flags, ctx: Any) -> list[Any]:
    results = []
    keys = flags.keys()
    for key in keys:
        for default in (None, False, "", 0, {}):
            result = flags.evaluate(key, default, ctx)
            if result.reason is Reason.ERROR:
                assert result.value is default
            results.append(result)
        flags.is_enabled(key, ctx)
        flags.get_value(key, 0, ctx)
        flags.variant(key, ctx)
    flags.all_values(ctx)
    return results


@pytest.mark.parametrize("flags", [EXAMPLE_FLAGS, OPERATOR_FLAGS], ids=["examples", "operators"])
@FUZZ
@given(ctx=contexts(data_values))
def test_data_garbage_never_raises_and_never_errors(flags: Flags, ctx: dict[Any, Any]) -> None:
    for result in evaluate_everything(flags, ctx):
        if result.reason is Reason.ERROR:  # only a default of another type may give an error here
            assert result.error_code is not None
            assert result.error_code.name == "TYPE_MISMATCH", result


@pytest.mark.parametrize("flags", [EXAMPLE_FLAGS, OPERATOR_FLAGS], ids=["examples", "operators"])
@FUZZ
@given(value=data_values)
def test_one_garbage_value_in_every_attribute_never_errors(flags: Flags, value: Any) -> None:
    ctx = dict.fromkeys(NAMES, value) | {"user": {"plan": value, "id": value}, "org": {"id": value}}
    for result in evaluate_everything(flags, ctx):
        if result.reason is Reason.ERROR:
            assert result.error_code is not None
            assert result.error_code.name == "TYPE_MISMATCH", result


@pytest.mark.parametrize("flags", [EXAMPLE_FLAGS, OPERATOR_FLAGS], ids=["examples", "operators"])
@FUZZ
@given(ctx=contexts(hostile_values))
def test_hostile_objects_never_raise(flags: Flags, ctx: dict[Any, Any]) -> None:
    evaluate_everything(flags, ctx)


@FUZZ
@given(ctx=st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers()), st.builds(Hostile)))
def test_a_context_that_is_not_a_mapping_never_raises(ctx: Any) -> None:
    evaluate_everything(OPERATOR_FLAGS, ctx)


def test_the_operator_flags_do_match_plausible_users() -> None:
    """The fuzzed flags are live: a plausible context matches them (so 'no error' means
    something)."""
    ctx = {"x": "a", "user": {"plan": 1}, "targeting_key": "abz", "user_id": dt.date(2025, 1, 1)}
    matched = [
        k for k in OPERATOR_KEYS if OPERATOR_FLAGS.evaluate(k, None, ctx).reason is Reason.TARGETING_MATCH
    ]
    assert len(matched) >= 5
