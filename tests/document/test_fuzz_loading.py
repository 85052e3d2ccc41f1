"""Fuzzing the loader: whatever the bytes or the structure, the only exception is ConfigError,
and every issue it carries says where (the source, and the line of any field it names)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flagkit import ConfigError, FlagSet

# The composed strategies have a long repr, which hypothesis warns about when it prints one.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

SOURCE = "fuzz/flags"
BIG = "__BIG__"
BIG_DIGITS = "9" * 5000


def with_big_ints(node: Any) -> Any:
    """The Python form of a generated document: markers become 5,000-digit integers."""
    if node == BIG:
        return 10**5000 - 1  # int(BIG_DIGITS) is over the int/str limit itself
    if isinstance(node, dict):
        return {key: with_big_ints(value) for key, value in node.items()}
    if isinstance(node, list):
        return [with_big_ints(value) for value in node]
    return node


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Scalars a document (or a careless generator of one) can hold, the nasty ones included.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**64, -(2**63) - 1, 10**4300 - 1]),
    st.just(BIG),  # an integer of 5,000 digits once written out (json.dumps cannot write it)
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["on", "off", "a", "b", "1.2.3", "V2.0.0", "2026-01-01", "^(a+)+$", "(a|ab)*", "[", ""]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
OPERATORS = ["eq", "ne", "in", "not_in", "contains", "starts_with", "ends_with", "matches", "gt", "gte",
             "lt", "lte", "semver_eq", "semver_gt", "semver_gte", "semver_lt", "semver_lte", "before",
             "after", "exists", "bogus"]  # fmt: skip


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually the plausible value, sometimes anything at all."""
    return st.one_of(strategy, strategy, strategy, values)


conditions = st.recursive(
    st.dictionaries(
        st.sampled_from(["country", "user.plan", "age", "now", "segment", "version", "email"]),
        maybe(
            st.one_of(scalars, st.dictionaries(st.sampled_from(OPERATORS), values, min_size=1, max_size=2))
        ),
        max_size=3,
    ),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"all": maybe(st.lists(inner, max_size=3))}),
        st.fixed_dictionaries({"any": maybe(st.lists(inner, max_size=3))}),
        st.fixed_dictionaries({"not": maybe(inner)}),
    ),
    max_leaves=6,
)
names = st.sampled_from(["a", "b", "on", "off", "f0", "f1", "f2", "s0"])
splits = st.dictionaries(names, maybe(st.one_of(st.integers(-10, 110), st.floats())), max_size=3)
rules = st.fixed_dictionaries(
    {"serve": maybe(st.one_of(names, splits))},
    optional={"when": maybe(conditions), "name": maybe(st.text(max_size=5))},
)
flags = st.fixed_dictionaries(
    {},
    optional={
        "variants": maybe(st.dictionaries(names, values, max_size=3)),
        "default": maybe(names),
        "enabled": maybe(st.booleans()),
        "rules": maybe(st.lists(rules, max_size=3)),
        "requires": maybe(st.lists(names, max_size=2)),
        "bucket_by": maybe(st.sampled_from(["user_id", "org.id", "now"])),
        "salt": maybe(st.text(max_size=5)),
        "expires": maybe(st.sampled_from(["2026-01-01", "2026-13-45", "soon"])),
        "metadata": maybe(st.dictionaries(st.text(max_size=5), values, max_size=2)),
        "tags": maybe(st.lists(st.text(max_size=5), max_size=2)),
        "bogus_field": values,
    },
)
documents = st.fixed_dictionaries(
    {"features": maybe(st.dictionaries(names, st.one_of(flags, scalars), max_size=4))},
    optional={
        "segments": maybe(st.dictionaries(names, maybe(conditions), max_size=2)),
        "version": values,
        "$schema": values,
    },
)


def check(load: Any, *, located: bool) -> None:
    error: ConfigError | None = None
    try:
        load()
    except ConfigError as exc:
        error = exc
    if error is None:
        return
    assert error.issues
    assert "report it as a bug" not in str(error), f"the loader guard caught an internal error: {error!r}"
    for issue in error.issues:
        assert issue.source == SOURCE
        assert issue.message
        if located and issue.path:
            assert issue.line is not None, issue


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["yaml", "json"]))
def test_random_bytes(data: bytes, fmt: str) -> None:
    check(lambda: FlagSet.from_bytes(data, source=SOURCE, fmt=fmt), located=False)  # type: ignore[arg-type]


@FUZZ
@given(documents)
def test_plausible_documents_as_json(doc: dict[str, Any]) -> None:
    # json.dumps writes NaN / Infinity for such floats, as users' tools do.
    text = json.dumps(doc, indent=1).replace(f'"{BIG}"', BIG_DIGITS)
    check(lambda: FlagSet.from_bytes(text, source=SOURCE, fmt="json"), located=True)


@FUZZ
@given(documents)
def test_plausible_documents_as_yaml(doc: dict[str, Any]) -> None:
    text = yaml.safe_dump(doc, default_flow_style=False, sort_keys=False).replace(BIG, BIG_DIGITS)
    check(lambda: FlagSet.from_bytes(text, source=SOURCE, fmt="yaml"), located=True)


@FUZZ
@given(documents)
def test_plausible_documents_as_python_data(doc: dict[str, Any]) -> None:
    data = with_big_ints(doc)
    check(lambda: FlagSet.from_dict(data, source=SOURCE), located=False)


def test_the_strategies_reach_valid_documents_and_nasty_numbers() -> None:
    """The fuzzers above are only as good as what they generate: check that they do load
    documents and do produce the values that used to escape the loader."""
    loaded = nasty = 0

    @settings(max_examples=150, deadline=None, database=None)
    @given(documents)
    def probe(doc: dict[str, Any]) -> None:
        nonlocal loaded, nasty
        text = json.dumps(doc).replace(f'"{BIG}"', BIG_DIGITS)
        nasty += "NaN" in text or "Infinity" in text or BIG_DIGITS in text
        try:
            FlagSet.from_bytes(text, source=SOURCE, fmt="json")
            loaded += 1
        except ConfigError:
            pass

    probe()
    assert loaded > 5
    assert nasty > 5
