"""The snapshot is built by pure functions: flag sets, layers and observers in, a Snapshot
out (flagkit._client.snapshot). No client, no provider, no thread here."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from flagkit import FlagSet, Reason
from flagkit._client.layers import Layers
from flagkit._client.snapshot import (
    EMPTY_SNAPSHOT,
    Snapshot,
    build_snapshot,
    constant_resolution,
    merge_flagsets,
)
from flagkit._observe.hooks import HookRunner, HookStats


def flagset(features: dict[str, Any]) -> FlagSet:
    return FlagSet.from_dict({"features": features})


def base_of(*sources: tuple[str, dict[str, Any] | None]) -> tuple[Snapshot, frozenset[str]]:
    return merge_flagsets(
        [(name, None if features is None else flagset(features)) for name, features in sources],
        EMPTY_SNAPSHOT,
    )


def layers() -> Layers:
    published: list[None] = []
    return Layers(threading.RLock(), lambda: published.append(None), lambda name, error: None)


def test_the_first_source_wins_flag_by_flag_and_says_who_serves() -> None:
    base, changed = base_of(("a", {"x": True}), ("b", {"x": False, "y": 3}), ("c", None))
    assert base.table["x"]({}, base.table)[0] is True
    assert base.table["y"]({}, base.table)[0] == 3
    assert dict(base.providers) == {"x": "a", "y": "b"}
    assert changed == {"x", "y"}
    assert base.generation == 1


def test_changed_keys_are_those_whose_behaviour_differs() -> None:
    first, _ = base_of(("a", {"x": True, "y": 1, "z": "s"}))
    second, changed = merge_flagsets([("a", flagset({"x": True, "y": 2, "w": 0}))], first)
    assert changed == {"y", "z", "w"}  # x is the same flag again: no change
    assert second.generation == first.generation + 1


def test_constant_flags_are_served_pre_built_and_rules_keep_their_resolver() -> None:
    base, _ = base_of(("a", {"on": True, "rule": {"rules": [{"when": {"c": "US"}, "serve": "on"}]}}))
    assert base.fast["on"] == (True, "on", Reason.STATIC, None)
    assert base.fast["rule"] is base.table["rule"]
    assert constant_resolution(base.table["on"]) == (True, "on", Reason.STATIC, None)
    assert constant_resolution(base.table["rule"]) is None


def test_a_mutable_value_is_not_pre_built_so_each_caller_gets_a_copy() -> None:
    base, _ = base_of(("a", {"x": True}))
    layer = layers()
    layer.push({"obj": {"a": [1]}})
    snap = build_snapshot(base, layers=layer)
    assert constant_resolution(snap.table["obj"]) is None
    assert not isinstance(snap.fast["obj"], tuple)
    first = snap.table["obj"]({}, snap.table)[0]
    first["a"].append(2)
    assert snap.table["obj"]({}, snap.table)[0] == {"a": [1]}


def test_nothing_to_add_publishes_the_base_itself() -> None:
    base, _ = base_of(("a", {"x": True}))
    assert build_snapshot(base, layers=layers()) is base


def test_launching_wraps_every_resolver_until_the_first_use() -> None:
    base, _ = base_of(("a", {"x": True}))
    calls: list[str] = []

    def launching(table: Any) -> dict[str, Any]:
        def wrap(key: str, resolve: Any) -> Any:
            return lambda ctx, t: (calls.append(key), resolve(ctx, t))[1]

        return {key: wrap(key, resolve) for key, resolve in table.items()}

    snap = build_snapshot(base, launching=launching)
    assert snap.table["x"]({}, snap.table)[0] is True
    assert calls == ["x"]
    assert not isinstance(snap.fast["x"], tuple)  # a wrapped resolver is called, never skipped


def test_override_layers_stack_and_the_latest_wins() -> None:
    base, _ = base_of(("a", {"x": True, "n": 1}))
    layer = layers()
    layer.push({"n": 2})
    layer.push({"n": 3, "new": "s"})
    snap = build_snapshot(base, layers=layer)
    assert snap.fast["n"] == (3, "3", Reason.OVERRIDE, None)
    assert snap.fast["new"][0] == "s"
    assert snap.providers["n"] == "override"
    assert snap.providers["x"] == "a"
    assert base.table["n"]({}, base.table)[0] == 1  # the base is untouched


def test_a_trip_serves_off_until_its_clock_passes() -> None:
    base, _ = base_of(("a", {"g": {"rules": [{"serve": "on"}]}}))
    layer = layers()
    now = [0.0]
    layer.trip("g", 10.0, lambda: now[0], RuntimeError("boom"))
    snap = build_snapshot(base, layers=layer)
    assert snap.table["g"]({}, snap.table)[:3] == (False, "off", Reason.GUARD_TRIPPED)
    now[0] = 10.0
    assert snap.table["g"]({}, snap.table)[0] is True  # served as defined again, layer or not
    layer.untrip("g")
    assert build_snapshot(base, layers=layer) is base


def test_a_trip_of_a_flag_no_provider_defines_is_ignored() -> None:
    base, _ = base_of(("a", {"x": True}))
    layer = layers()
    layer.trip("missing", 10.0, lambda: 0.0, RuntimeError("boom"))
    assert "missing" not in build_snapshot(base, layers=layer).table


def test_hooks_leave_the_fast_table_empty_so_the_core_takes_the_hooked_path() -> None:
    base, _ = base_of(("a", {"x": True}))

    class After:
        def after(self, *args: Any) -> None:
            pass

    snap = build_snapshot(base, hooks=HookRunner((After(),), HookStats()), hook_stats=HookStats())
    assert snap.hooks is not None
    assert snap.fast.get("x") is None
    with pytest.raises(TypeError):
        snap.fast["y"] = None  # type: ignore[index]  # read-only: the core never caches a miss in it
