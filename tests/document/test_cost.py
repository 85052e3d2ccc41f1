"""The evaluation cost a document can create is bounded at load (flagkit.document.cost)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from flagkit import ConfigError, Flags, FlagSet
from flagkit.document.cost import MAX_DOCUMENT_COST, MAX_FLAG_COST, cost_issues
from flagkit.document.reader import read_document


def nested_aliases(levels: int, width: int) -> str:
    """``levels`` of ``any`` over ``width`` aliases of the level below: width**levels checks."""
    cond = "&c0 {plan: {ends_with: zz}}"
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*c{level - 1}"] * (width - 1))
        cond = f"&c{level} {{any: [{cond}, {aliases}]}}"
    return f"features:\n  costly:\n    rules:\n      - when: {cond}\n        serve: on\n  cheap: true\n"


def test_a_small_file_of_nested_aliases_is_refused_naming_the_flag() -> None:
    # 320 bytes whose aliases expand under the node cap made one evaluation take 12 ms.
    text = nested_aliases(levels=5, width=8)
    assert len(text.encode()) < 600
    started = time.process_time()
    with pytest.raises(ConfigError) as caught:
        FlagSet.from_bytes(text.encode(), source="features.yaml")
    assert time.process_time() - started < 5  # CPU of this thread: the count does not expand
    (issue,) = caught.value.issues
    assert issue.flag == "costly"
    assert issue.line == 2  # the flag's key
    assert f"more than {MAX_FLAG_COST:,} condition checks" in issue.message


def test_the_same_structure_under_the_bound_loads() -> None:
    flags = Flags.from_dict(read_document(nested_aliases(levels=3, width=8)))  # 585 checks
    assert flags.is_enabled("costly", {"plan": "azz"}) is True
    assert flags.is_enabled("costly", {"plan": "x"}) is False


def test_segments_used_many_times_multiply() -> None:
    # No YAML needed: each segment uses the one below eight times.
    segments: dict[str, Any] = {"s0": {"plan": {"ends_with": "zz"}}}
    for level in range(1, 6):
        segments[f"s{level}"] = {"any": [{"segment": f"s{level - 1}"}] * 8}
    doc = {"segments": segments, "features": {"f": {"rules": [{"when": {"segment": "s5"}, "serve": "on"}]}}}
    with pytest.raises(ConfigError, match="condition checks") as caught:
        FlagSet.from_dict(doc)
    assert caught.value.issues[0].flag == "f"


def test_prerequisites_add_their_conditions() -> None:
    # Eight prerequisites, each scanning 2,000 suffixes: one evaluation of `top` makes 16,000
    # checks though each prerequisite alone is within the bound. (How often prerequisites are
    # evaluated is the compiler's bound: MAX_PREREQUISITE_EVALUATIONS.)
    scan = {"rules": [{"when": {"host": {"ends_with": [f".h{i}" for i in range(2_000)]}}, "serve": "on"}]}
    features: dict[str, Any] = {f"p{i}": scan for i in range(8)}
    features["top"] = {"requires": [f"p{i}" for i in range(8)], "rules": [{"serve": "on"}]}
    features["above"] = {"requires": ["top"], "rules": [{"serve": "on"}]}
    with pytest.raises(ConfigError) as caught:
        FlagSet.from_dict({"features": features})
    assert [issue.flag for issue in caught.value.issues] == ["top"]  # not `above`: `top` is the cause


def test_the_prerequisite_bound_is_the_compilers() -> None:
    from flagkit._engine import compiler
    from flagkit.document import cost

    assert cost.MAX_PREREQUISITE_EVALUATIONS == compiler.MAX_PREREQUISITE_EVALUATIONS


def test_a_long_in_list_is_a_set_not_a_scan() -> None:
    # `in` compiles to a set: a 50,000-entry allow list costs one check.
    users = [f"user-{i}" for i in range(50_000)]
    flags = Flags.from_dict({"vip": {"rules": [{"when": {"user_id": users}, "serve": "on"}]}})
    assert flags.is_enabled("vip", {"user_id": "user-49999"})
    long_scan = {
        "f": {
            "rules": [
                {"when": {"host": {"ends_with": [f".h{i}" for i in range(MAX_FLAG_COST)]}}, "serve": "on"}
            ]
        }
    }
    with pytest.raises(ConfigError, match="condition checks"):
        FlagSet.from_dict({"features": long_scan})


def test_the_document_bound() -> None:
    per_flag = {
        "rules": [
            {"when": {"host": {"ends_with": [f".h{i}" for i in range(MAX_FLAG_COST - 10)]}}, "serve": "on"}
        ]
    }
    count = MAX_DOCUMENT_COST // (MAX_FLAG_COST - 10) + 2
    features = {f"f{i}": per_flag for i in range(count)}  # one shared definition, counted per flag
    (issue,) = cost_issues({"features": features})
    assert issue.path == ()
    assert f"more than {MAX_DOCUMENT_COST:,} condition checks" in issue.message


def test_self_referencing_python_structures_do_not_hang() -> None:
    cond: dict[str, Any] = {"plan": "x"}
    cond["any"] = [cond]
    assert cost_issues({"features": {"f": {"rules": [{"when": cond, "serve": "on"}]}}}) == []
