"""The Flags client: API contract, context handling, errors as values, snapshots, listeners."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flagkit
from flagkit import ConfigError, ErrorCode, FlagNotFoundError, Flags, Provider, Reason
from flagkit.providers import Report
from tests.helpers.providers import ManualProvider

DOC = {
    "segments": {"staff": {"email": {"ends_with": "@example.com"}}},
    "features": {
        "new_checkout": {"rules": [{"when": {"country": "US", "premium": True}, "serve": "on"}]},
        "button_color": {
            "variants": {"blue": "blue", "green": "green"},
            "default": "blue",
            "rules": [{"name": "staff", "when": {"segment": "staff"}, "serve": "green"}],
        },
        "rollout": {"rules": [{"serve": {"on": 50, "off": 50}}]},
        "limit": 10,
        "ratio": {"variants": {"low": 1, "high": 2.5}, "default": "low"},
        "config": {"variants": {"v1": {"a": 1}}, "default": "v1"},
        "regex": {"rules": [{"when": {"email": {"matches": "^[a-z]+@x\\.com$"}}, "serve": "on"}]},
        "semver": {"rules": [{"when": {"v": {"semver_gte": "2.0.0"}}, "serve": "on"}]},
        "dated": {"rules": [{"when": {"d": {"after": "2020-01-01"}}, "serve": "on"}]},
        "numbers": {"rules": [{"when": {"n": {"gt": 3}}, "serve": "on"}]},
        "listy": {"rules": [{"when": {"tags": {"contains": "x"}, "c": ["a", "b"]}, "serve": "on"}]},
    },
}


@pytest.fixture
def flags() -> Flags:
    return Flags.from_dict(DOC)


def test_issue_examples(flags: Flags) -> None:
    ctx = {"user_id": "12345", "premium": True, "country": "US"}
    assert flags.is_enabled("new_checkout", ctx) is True
    assert flags.get_value("button_color", "blue", {"email": "a@example.com"}) == "green"
    assert flags.variant("button_color", ctx) == "blue"
    details = flags.evaluate("button_color", "blue", {"email": "a@example.com"})
    assert (details.value, details.variant, details.reason, details.rule) == (
        "green",
        "green",
        Reason.TARGETING_MATCH,
        "staff",
    )
    assert details.error_code is None
    assert details.error_message is None
    values = flags.all_values(ctx)
    assert values["new_checkout"] is True
    assert values["limit"] == 10
    assert set(values) == set(DOC["features"])
    with flags.context(user_id="12345", country="US", premium=True):
        assert flags.is_enabled("new_checkout")
    assert not flags.is_enabled("new_checkout")


def test_unknown_flag_returns_default_with_reason(flags: Flags) -> None:
    assert flags.is_enabled("nope") is False
    assert flags.get_value("nope", 7) == 7
    assert flags.variant("nope") is None
    result = flags.evaluate("nope", "d")
    assert (result.value, result.reason, result.error_code) == ("d", Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
    assert "nope" in (result.error_message or "")


def test_strict_mode_raises_for_unknown_keys() -> None:
    strict = Flags.from_dict(DOC, strict=True)
    for call in (
        lambda: strict.is_enabled("nope"),
        lambda: strict.get_value("nope", 1),
        lambda: strict.variant("nope"),
        lambda: strict.evaluate("nope", 1),
    ):
        with pytest.raises(FlagNotFoundError, match="'nope' is not defined"):
            call()
    assert strict.is_enabled("new_checkout", {"country": "US", "premium": True})


def test_type_mismatch_returns_default(flags: Flags) -> None:
    assert flags.get_value("limit", "ten") == "ten"
    result = flags.evaluate("limit", "ten")
    assert (result.value, result.reason, result.error_code) == ("ten", Reason.ERROR, ErrorCode.TYPE_MISMATCH)
    assert flags.get_value("limit", True) is True  # an int is not a bool
    assert flags.is_enabled("limit") is False  # non-boolean flags are never "enabled"
    assert flags.get_value("ratio", 0.0) == 1.0
    assert isinstance(flags.get_value("ratio", 0.0), float)
    assert flags.get_value("config", {}) == {"a": 1}
    assert flags.get_value("config", None) == {"a": 1}
    assert flags.evaluate("limit", 0.5).value == 10.0


def test_explicit_context_overrides_ambient_key_by_key(flags: Flags) -> None:
    with flags.context(country="US", premium=False):
        assert not flags.is_enabled("new_checkout")
        assert flags.is_enabled("new_checkout", {"premium": True})
        with flagkit.context(premium=True):
            assert flags.is_enabled("new_checkout")
            assert not flags.is_enabled("new_checkout", {"country": "DE"})
        assert flagkit.current_context() == {"country": "US", "premium": False}
    assert flagkit.current_context() == {}


def test_context_is_isolated_between_threads(flags: Flags) -> None:
    results: dict[str, bool] = {}
    barrier = threading.Barrier(2)

    def worker(name: str, country: str) -> None:
        with flags.context(country=country, premium=True):
            barrier.wait()
            results[name] = flags.is_enabled("new_checkout")

    threads = [
        threading.Thread(target=worker, args=("us", "US")),
        threading.Thread(target=worker, args=("de", "DE")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"us": True, "de": False}


def test_context_is_isolated_between_tasks(flags: Flags) -> None:
    async def request(country: str) -> bool:
        with flags.context(country=country, premium=True):
            await asyncio.sleep(0.01)
            return flags.is_enabled("new_checkout")

    async def main() -> list[bool]:
        return await asyncio.gather(*(request(c) for c in ["US", "DE", "US", "FR"]))

    assert asyncio.run(main()) == [True, False, True, False]


GARBAGE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50) | st.binary(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


ATTRIBUTES = ("country", "premium", "email", "v", "d", "n", "tags", "c", "user_id", "targeting_key", "x")


@settings(max_examples=300, deadline=None)
@given(ctx=st.dictionaries(st.sampled_from([*ATTRIBUTES]), GARBAGE))
def test_evaluation_never_raises_whatever_the_context_holds(ctx: dict[str, Any]) -> None:
    flags = Flags.from_dict(DOC)
    for key in DOC["features"]:
        flags.is_enabled(key, ctx)
        flags.get_value(key, None, ctx)
        flags.variant(key, ctx)
        result = flags.evaluate(key, None, ctx)
        assert result.reason in set(Reason)
    flags.all_values(ctx)


@pytest.mark.parametrize("ctx", [None, {}, [], "user", 42, {"email": "x" * 1_000_000}, {1: 2}])
def test_non_mapping_contexts_do_not_raise(flags: Flags, ctx: Any) -> None:
    flags.is_enabled("new_checkout", ctx)
    flags.get_value("button_color", "blue", ctx)
    result = flags.evaluate("regex", False, ctx)
    assert result.reason in {Reason.DEFAULT, Reason.ERROR}


def test_snapshot_pins_one_version() -> None:
    provider = ManualProvider({"f": True})
    flags = Flags(provider)
    with flags.snapshot():
        provider.publish({"f": False})
        assert flags.is_enabled("f") is True
        seen_in_thread: list[bool] = []
        thread = threading.Thread(target=lambda: seen_in_thread.append(flags.is_enabled("f")))
        thread.start()
        thread.join()
        assert seen_in_thread == [False]  # the pin is per thread
    assert flags.is_enabled("f") is False


def test_providers_listed_first_win_flag_by_flag() -> None:
    first, second = ManualProvider({"a": 1}), ManualProvider({"a": 2, "b": 2})
    flags = Flags(first, second)
    assert flags.get_value("a", 0) == 1
    assert flags.get_value("b", 0) == 2


def test_on_change_reports_changed_keys() -> None:
    provider = ManualProvider({"a": True, "b": True})
    flags = Flags(provider)
    seen: list[frozenset[str]] = []
    flags.on_change(seen.append)
    provider.publish({"a": True, "b": False, "c": 1})
    provider.publish({"a": True, "b": False, "c": 1})  # no change: no call
    assert flags.flush_listeners(5)
    assert seen == [frozenset({"b", "c"})]


def test_errors_keep_last_good_flags_and_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    provider = ManualProvider({"a": True})
    flags = Flags(provider)
    errors: list[tuple[str, BaseException]] = []
    flags.on_error(lambda name, exc: errors.append((name, exc)))
    boom = ConfigError("flags.yaml:3: bad")
    provider.fail(boom)
    provider.fail(boom)
    assert flags.is_enabled("a") is True
    assert flags.flush_listeners(5)
    status = flags.status()["manual"]
    assert status.state == "stale"
    assert status.error_count == 2
    assert "bad" in (status.last_error or "")
    assert [e for _, e in errors] == [boom, boom]
    assert sum("flags.yaml:3: bad" in r.getMessage() for r in caplog.records) == 1  # logged once
    provider.publish({"a": False})
    assert flags.status()["manual"].state == "ready"
    assert flags.is_enabled("a") is False


def test_provider_that_never_loaded_contributes_nothing() -> None:
    broken, good = ManualProvider(), ManualProvider({"a": True})
    flags = Flags(broken, good)
    broken.fail(OSError("unreachable"))
    assert flags.is_enabled("a") is True
    assert flags.status()["manual"].state == "error"
    assert flags.wait_ready(timeout=0.01) is False
    broken.publish({"b": True})
    assert flags.wait_ready(timeout=0.01) is True


def test_listener_exceptions_do_not_break_reloads() -> None:
    provider = ManualProvider({"a": True})
    flags = Flags(provider)
    flags.on_change(lambda keys: 1 / 0)
    provider.publish({"a": False})
    assert flags.is_enabled("a") is False


def test_overrides_layer_and_restore() -> None:
    flags = Flags.from_dict({"a": False})
    outer = flags.push_overrides({"a": True, "new": "x"})
    inner = flags.push_overrides({"a": False})
    assert flags.evaluate("a", True).reason is Reason.OVERRIDE
    assert flags.is_enabled("a") is False
    flags.pop_overrides(inner)
    assert flags.is_enabled("a") is True
    assert flags.get_value("new", "") == "x"
    flags.pop_overrides(outer)
    assert flags.evaluate("a", True).reason is Reason.STATIC


def test_from_file_raises_config_error_at_start(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("features:\n  a: {rules: [{serve: nope}]}\n")
    with pytest.raises(ConfigError, match=r"f.yaml:2"):
        Flags.from_file(path, watch=False)


def test_flags_requires_providers() -> None:
    with pytest.raises(TypeError, match="Provider"):
        Flags({"a": True})  # type: ignore[arg-type]
    assert Flags().is_enabled("x") is False
    assert Flags().wait_ready(0) is True


def test_close_is_idempotent_and_context_manager() -> None:
    with Flags.from_dict({"a": True}) as flags:
        assert flags.is_enabled("a")
        assert flags.closed is False
    assert flags.closed is True
    flags.close()
    flags.close()
    assert flags.closed is True
    assert flags.is_enabled("a")  # the last flags are still served


def test_usage_and_exposures_switched_on_after_close_start_no_thread() -> None:
    flags = Flags.from_dict({"a": True, "b": {"rules": [{"when": {"plan": "pro"}, "serve": "on"}]}})
    assert flags.is_enabled("a")  # first use: this process's threads started
    flags.close()
    before = {thread for thread in threading.enumerate() if thread.name.startswith("flagkit-")}
    seen: list[object] = []
    flags.enable_usage(interval=0.05)
    flags.on_exposure(seen.append)
    assert flags.is_enabled("b", {"user_id": "u1", "plan": "pro"})
    usage = flags.usage()
    assert usage is not None
    assert usage["flags"]["b"]["evaluations"] == 1  # counted the long way: no thread folds tallies
    after = {thread for thread in threading.enumerate() if thread.name.startswith("flagkit-")}
    assert after - before == set(), sorted(thread.name for thread in after - before)


def test_evaluation_as_dict(flags: Flags) -> None:
    assert flags.evaluate("limit", 0).as_dict() == {
        "key": "limit", "value": 10, "variant": "10", "reason": "STATIC", "rule": None,
        "error_code": None, "error_message": None,
    }  # fmt: skip


@pytest.mark.parametrize("ctx", [[], "user", 42, [("a", 1)]])
def test_non_mapping_context_inside_ambient_context_does_not_raise(flags: Flags, ctx: Any) -> None:
    with flags.context(country="US"):
        assert flags.is_enabled("new_checkout", ctx) is False
        assert flags.get_value("limit", 0, ctx) == 0
        assert flags.variant("limit", ctx) is None
        assert flags.evaluate("limit", 0, ctx).reason is Reason.ERROR
        assert flags.all_values(ctx) == {}


def test_change_in_a_nested_segment_is_reported_for_flags_using_it() -> None:
    def doc(domain: str) -> dict[str, Any]:
        return {
            "segments": {"inner": {"email": {"ends_with": domain}}, "outer": {"segment": "inner"}},
            "features": {
                "a": {"rules": [{"when": {"segment": "outer"}, "serve": "on"}]},
                "b": {"rules": [{"when": {"segment": "outer"}, "serve": "on"}]},
                "c": True,
            },
        }

    provider = ManualProvider(doc("@x.com"))
    flags = Flags(provider)
    seen: list[frozenset[str]] = []
    flags.on_change(seen.append)
    provider.publish(doc("@y.com"))
    assert flags.flush_listeners(5)
    assert seen == [frozenset({"a", "b"})]
    assert flags.is_enabled("b", {"email": "me@y.com"})


def test_override_of_a_multi_variant_flag_names_the_matching_variant() -> None:
    flags = Flags.from_dict({"color": {"variants": {"blue": "#00f", "green": "#0f0"}, "default": "blue"}})
    handle = flags.push_overrides({"color": "#0f0"})
    result = flags.evaluate("color", "")
    assert (result.value, result.variant, result.reason) == ("#0f0", "green", Reason.OVERRIDE)
    flags.pop_overrides(handle)
    handle = flags.push_overrides({"color": "green"})  # a value, not a variant name
    assert (flags.get_value("color", ""), flags.variant("color")) == ("green", "green")
    flags.pop_overrides(handle)
    handle = flags.push_overrides({"color": "#00f"})
    assert (flags.get_value("color", ""), flags.variant("color")) == ("#00f", "blue")
    flags.pop_overrides(handle)
    handle = flags.push_overrides({"color": "#123456"})
    assert (flags.get_value("color", ""), flags.variant("color")) == ("#123456", "#123456")
    flags.pop_overrides(handle)


def test_get_value_accepts_subclasses_of_the_default_type(flags: Flags) -> None:
    class Safe(str):
        pass

    assert flags.get_value("button_color", Safe("x")) == "blue"
    assert flags.evaluate("button_color", Safe("x")).value == "blue"
    assert flags.get_value("button_color", 3) == 3


def test_mutating_a_served_object_does_not_change_the_flag() -> None:
    flags = Flags.from_dict({"cfg": {"variants": {"a": {"limits": [1, 2]}}, "default": "a"}})
    flags.get_value("cfg", {})["limits"].append(99)
    flags.evaluate("cfg", {}).value["limits"].append(98)
    flags.all_values()["cfg"]["new"] = 1
    assert flags.get_value("cfg", {}) == {"limits": [1, 2]}
    handle = flags.push_overrides({"cfg": {"x": [1]}})
    flags.get_value("cfg", {})["x"].append(2)
    assert flags.get_value("cfg", {}) == {"x": [1]}
    flags.pop_overrides(handle)


def test_a_provider_failing_to_start_stops_the_ones_already_started() -> None:
    class Recording(ManualProvider):
        stopped = 0

        def stop(self) -> None:
            self.stopped += 1

    class Broken(Provider):
        def start(self, report: Report) -> None:
            raise RuntimeError("cannot start")

    first = Recording({"a": True})
    with pytest.raises(RuntimeError, match="cannot start"):
        Flags(first, Broken())
    assert first.stopped == 1


def test_status_names_providers_with_the_same_name_apart() -> None:
    flags = Flags(ManualProvider({"a": True}), ManualProvider({"b": True}), ManualProvider({"c": True}))
    assert list(flags.status()) == ["manual", "manual#2", "manual#3"]


def test_huge_version_strings_are_not_cached() -> None:
    from flagkit._engine.operators import parse_semver

    flags = Flags.from_dict(DOC)
    parse_semver.cache_clear()
    for i in range(50):
        assert flags.is_enabled("semver", {"v": f"{i}" * 100_000}) is False
    assert parse_semver.cache_info().currsize == 0
