"""Guarded rollouts: fallback on failure, trip on a failure budget, cool-down; fake clocks."""

from __future__ import annotations

import asyncio
import logging

import pytest

from flagkit import Flags, Guard, GuardTrippedError, Reason


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Boom(Exception):
    pass


@pytest.fixture
def flags() -> Flags:
    client = Flags.from_dict({"new_path": {"rules": [{"serve": "on"}]}, "other": True, "dark": False})
    yield client  # type: ignore[misc]  # a generator fixture
    client.close()


def make(flags: Flags, guard: Guard, fail: list[bool]) -> object:
    calls: list[str] = []

    def old(x: int) -> str:
        calls.append("old")
        return f"old {x}"

    @flags.when("new_path", otherwise=old, guard=guard)
    def new(x: int) -> str:
        calls.append("new")
        if fail[0]:
            raise Boom(f"secret user data {x}")
        return f"new {x}"

    new.calls = calls  # type: ignore[attr-defined]
    return new


def test_a_failing_call_falls_back_and_is_counted(flags: Flags) -> None:
    guard = Guard(min_calls=100, clock=FakeClock())
    fail = [True]
    new = make(flags, guard, fail)
    assert new(1) == "old 1"  # type: ignore[operator]
    assert new.calls == ["new", "old"]  # type: ignore[attr-defined]
    fail[0] = False
    assert new(2) == "new 2"  # type: ignore[operator]
    assert guard.counts() == (2, 1)
    assert not guard.tripped


def test_reraise(flags: Flags) -> None:
    guard = Guard(reraise=True, clock=FakeClock())
    new = make(flags, guard, [True])
    with pytest.raises(Boom):
        new(1)  # type: ignore[operator]
    assert guard.counts() == (1, 1)


def test_trips_after_the_budget_then_cools_down(flags: Flags, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    guard = Guard(max_failure_rate=0.5, min_calls=10, window=60, cooldown=300, clock=clock)
    errors: list[tuple[str, BaseException]] = []
    flags.on_error(lambda name, error: errors.append((name, error)))
    fail = [False]
    new = make(flags, guard, fail)
    for i in range(5):
        new(i)  # type: ignore[operator]
    fail[0] = True
    with caplog.at_level(logging.WARNING, logger="flagkit"):
        for i in range(4):
            new(i)  # type: ignore[operator]
            assert not guard.tripped  # 4 of 9: under min_calls
        new(99)  # type: ignore[operator]  # 5 of 10 failed: 50 % with 10 calls -> trips
    assert guard.tripped
    assert guard.trips == 1
    # The whole process now serves the default, with a distinct reason.
    evaluation = flags.evaluate("new_path", False)
    assert (evaluation.value, evaluation.variant, evaluation.reason) == (False, "off", Reason.GUARD_TRIPPED)
    assert flags.is_enabled("new_path") is False
    assert flags.is_enabled("other") is True
    calls_before = len(new.calls)  # type: ignore[attr-defined]
    assert new(7) == "old 7"  # type: ignore[operator]
    assert new.calls[calls_before:] == ["old"]  # type: ignore[attr-defined]  # the new path is not tried
    # Reported once, through on_error and the log, without the exception's message (user data).
    flags.flush_listeners(10)
    ((name, error),) = errors
    assert name == "guard:new_path"
    assert isinstance(error, GuardTrippedError)
    assert (error.failures, error.calls, error.last_error) == (5, 10, "Boom")
    assert any("guard tripped for flag 'new_path'" in r.getMessage() for r in caplog.records)
    assert "secret" not in caplog.text
    assert "secret" not in str(error)
    # Cool-down over: served as defined again, with a fresh window.
    clock.now += 300
    assert flags.evaluate("new_path", False).reason is Reason.TARGETING_MATCH
    fail[0] = False
    assert new(8) == "new 8"  # type: ignore[operator]
    assert guard.counts() == (1, 0)
    assert not guard.tripped
    assert not flags.layers.is_tripped("new_path")


def test_old_failures_slide_out_of_the_window(flags: Flags) -> None:
    clock = FakeClock()
    guard = Guard(max_failure_rate=0.5, min_calls=4, window=60, clock=clock)
    fail = [True]
    new = make(flags, guard, fail)
    for i in range(3):
        new(i)  # type: ignore[operator]
    clock.now += 61  # those three failures are older than the window now
    new(3)  # type: ignore[operator]
    assert guard.counts() == (1, 1)
    assert not guard.tripped


def test_a_reload_keeps_the_trip() -> None:
    from flagkit import DictProvider

    clock = FakeClock()
    client = Flags(DictProvider({"new_path": {"rules": [{"serve": "on"}]}}))
    try:
        guard = Guard(min_calls=1, max_failure_rate=1, clock=clock)
        make(client, guard, [True])(1)  # type: ignore[operator]
        assert client.evaluate("new_path", False).reason is Reason.GUARD_TRIPPED
        flagset = client.flagsets()[0]
        client._receive(0, flagset)  # a provider report: the merged flags are rebuilt and republished
        assert client.evaluate("new_path", False).reason is Reason.GUARD_TRIPPED
    finally:
        client.close()


def test_context_manager_form(flags: Flags) -> None:
    clock = FakeClock()
    guard = Guard(min_calls=2, max_failure_rate=1, clock=clock)
    with flags.guarded("new_path", guard=guard) as g:
        assert g.enabled
        raise Boom("x")
    assert g.failed
    assert isinstance(g.error, Boom)
    assert g.use_fallback
    with flags.guarded("new_path") as g2:  # the key's guard is remembered
        if g2.enabled:
            raise Boom("y")
    assert guard.tripped
    with flags.guarded("new_path") as g3:
        assert not g3.enabled
        assert g3.use_fallback
    off_guard = Guard(clock=clock)

    def old_path_fails() -> None:
        with flags.guarded("dark", guard=off_guard) as g4:
            assert not g4.enabled
            raise KeyError("the old path's errors are not the guard's business")

    with pytest.raises(KeyError):
        old_path_fails()
    assert off_guard.counts() == (0, 0)


def test_async_functions(flags: Flags) -> None:
    guard = Guard(min_calls=100, clock=FakeClock())

    async def old() -> str:
        return "old"

    @flags.when("new_path", otherwise=old, guard=guard)
    async def new() -> str:
        raise Boom("x")

    assert asyncio.run(new()) == "old"
    assert guard.counts() == (1, 1)


def test_a_guard_guards_one_flag(flags: Flags) -> None:
    guard = Guard()
    flags.when("new_path", guard=guard)(lambda: None)
    with pytest.raises(ValueError, match="already guards 'new_path'"):
        flags.when("other", guard=guard)(lambda: None)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_failure_rate": 0}, {"max_failure_rate": 1.5}, {"min_calls": 0}, {"window": 0}, {"cooldown": -1}],
)
def test_invalid_budgets(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Guard(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("definition", "served"),
    [
        # A boolean flag whose default is on, and a rule keeping some users off: a trip must
        # not hand the feature to everyone (the new path would keep failing).
        ({"default": "on", "rules": [{"when": {"country": "FR"}, "serve": "off"}]}, (False, "off")),
        # The off_variant is what the flag serves when it is off (as `enabled: false` does).
        ({"default": "on", "off_variant": "off", "rules": [{"serve": "on"}]}, (False, "off")),
        (
            {"variants": {"yes": True, "no": False, "x": True}, "default": "x", "off_variant": "no"},
            (False, "no"),
        ),
        # No off variant and no false value: the caller's default for code_default...
        ({"variants": {"yes": True}, "default": "code_default", "rules": [{"serve": "yes"}]}, (False, None)),
        # ... and the default variant otherwise.
        ({"variants": {"a": True, "b": True}, "default": "b", "rules": [{"serve": "a"}]}, (True, "b")),
        # A static boolean flag (`f: true`, the commonest form) is switched off too.
        (True, (False, "off")),
    ],
)
def test_a_trip_switches_the_flag_off_for_everyone(definition: object, served: tuple[object, object]) -> None:
    flags = Flags.from_dict({"features": {"f": definition}})
    guard = Guard(min_calls=1, max_failure_rate=0.5, clock=FakeClock())
    with flags.guarded("f", context={"country": "US"}, guard=guard) as g:
        if g.enabled:
            raise Boom("x")
    assert guard.tripped
    for user in ({"country": "FR"}, {"country": "US"}, {}):
        result = flags.evaluate("f", False, user)
        assert (result.value, result.variant) == served, user
        assert result.reason == Reason.GUARD_TRIPPED
    flags.close()


def test_a_tripped_static_flag_stops_running_the_failing_path() -> None:
    """``new_checkout: true`` guarded by ``when``: once tripped, calls take the old path (the
    off merge of issue 16 had the trip serve a static flag's only value, true, so the failing
    new path kept running for every call)."""
    flags = Flags.from_dict({"features": {"new_checkout": True}})
    guard = Guard(min_calls=2, max_failure_rate=0.5, clock=FakeClock())
    calls: list[str] = []

    def old() -> str:
        calls.append("old")
        return "old"

    @flags.when("new_checkout", otherwise=old, guard=guard)
    def new() -> str:
        calls.append("new")
        raise Boom("x")

    for _ in range(5):
        assert new() == "old"
    assert guard.tripped
    assert calls == ["new", "old", "new", "old", "old", "old", "old"]
    assert flags.is_enabled("new_checkout") is False
    flags.close()


def test_a_tripped_parent_switches_its_dependents_off() -> None:
    flags = Flags.from_dict(
        {
            "features": {
                "parent": {"variants": {"a": True, "b": True}, "default": "b", "rules": [{"serve": "a"}]},
                "child": {"requires": ["parent"], "rules": [{"serve": "on"}]},
            }
        }
    )
    assert flags.is_enabled("child")
    guard = Guard(min_calls=1, max_failure_rate=0.5, clock=FakeClock())
    with flags.guarded("parent", guard=guard) as g:
        if g.enabled:
            raise Boom("x")
    assert flags.evaluate("parent", False).value is True  # all its variants are truthy...
    assert flags.evaluate("child", False).reason is Reason.PREREQUISITE_FAILED  # ...yet it is off
    flags.close()


def test_a_tripped_object_flag_serves_each_caller_its_own_copy() -> None:
    # issue 17: the off variant comes from the shared, read-only CompiledFlag.variants
    flags = Flags.from_dict(
        {"features": {"cfg": {"variants": {"new": True, "old": {"limits": [2]}},
                              "default": "new", "off_variant": "old"}}}
    )  # fmt: skip
    guard = Guard(min_calls=1, max_failure_rate=0.5, clock=FakeClock())
    with flags.guarded("cfg", guard=guard) as g:
        if g.enabled:
            raise Boom("x")
    assert guard.tripped
    first = flags.evaluate("cfg", {})
    assert (first.value, first.reason) == ({"limits": [2]}, Reason.GUARD_TRIPPED)
    assert type(first.value) is dict  # plain, like untripped
    assert type(first.value["limits"]) is list
    first.value["limits"].append(3)
    first.value["x"] = 1
    assert flags.get_value("cfg", {}) == {"limits": [2]}
    flags.close()
