"""FlagkitProvider through the real openfeature-sdk, used the way OpenFeature's docs show."""

from __future__ import annotations

import asyncio
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagEvaluationDetails, Reason
from openfeature.hook import Hook, HookContext, HookHints
from openfeature.provider import ProviderStatus

import flagkit.integrations.openfeature
from flagkit import Evaluation, FileProvider, Flags, Guard
from flagkit import Hook as FlagkitHook
from flagkit import HookContext as FlagkitHookContext
from flagkit.integrations.openfeature import FlagkitProvider, to_context
from flagkit.testing import override_flags

from .conftest import wait_for, write_flags

FLAGS = {
    "features": {
        "new_search": {
            "rules": [
                {"name": "staff", "when": {"plan": "staff"}, "serve": "on"},
                {"name": "canary", "serve": {"on": 20, "off": 80}},
            ]
        },
        "kill_me": {"enabled": False, "rules": [{"serve": "on"}]},
        "needs_search": {"requires": ["new_search"], "rules": [{"serve": "on"}]},
        "button_color": {"variants": {"blue": "#00f", "green": "#0f0"}, "default": "blue"},
        "max_items": 25,
        "ratio": 0.25,
        "config": {"variants": {"v1": {"engine": "ai", "depth": 2}}, "default": "v1"},
        "regions": {"variants": {"all": ["eu", "us"]}, "default": "all"},
    }
}


@pytest.fixture
def openfeature_api() -> Iterator[None]:
    api.shutdown()
    yield
    api.shutdown()  # providers, handlers, hooks and the global context back to defaults


@pytest.fixture
def flags(openfeature_api: None) -> Iterator[Flags]:
    with Flags.from_dict(FLAGS) as client:
        yield client


class Events:
    """Records OpenFeature events delivered to api-level handlers (run on the SDK's executor)."""

    KINDS = (
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
        ProviderEvent.PROVIDER_STALE,
        ProviderEvent.PROVIDER_ERROR,
    )

    def __init__(self) -> None:
        self.seen: list[tuple[ProviderEvent, EventDetails]] = []
        self.lock = threading.Lock()
        for kind in self.KINDS:
            api.add_handler(kind, self._handler(kind))

    def _handler(self, kind: ProviderEvent) -> Any:
        def handle(details: EventDetails) -> None:
            with self.lock:
                self.seen.append((kind, details))

        return handle

    def of(self, kind: ProviderEvent) -> list[EventDetails]:
        """Events of one kind from our provider (a new handler also hears the no-op provider's READY)."""
        with self.lock:
            return [details for k, details in self.seen if k is kind and details.provider_name == "flagkit"]


def users_in_canary(flags: Flags, n: int = 400) -> tuple[str, str]:
    inside = next(f"u{i}" for i in range(n) if flags.is_enabled("new_search", {"targeting_key": f"u{i}"}))
    outside = next(
        f"u{i}" for i in range(n) if not flags.is_enabled("new_search", {"targeting_key": f"u{i}"})
    )
    return inside, outside


def test_typed_values_and_details_through_the_client(flags: Flags) -> None:
    api.set_provider_and_wait(FlagkitProvider(flags))
    client = api.get_client()
    assert api.get_provider_metadata().name == "flagkit"
    assert client.get_provider_status() is ProviderStatus.READY

    staff = EvaluationContext("someone", {"plan": "staff"})
    details = client.get_boolean_details("new_search", False, staff)
    assert (details.value, details.variant, details.reason) == (True, "on", Reason.TARGETING_MATCH)
    assert details.flag_metadata == {"rule": "staff"}
    assert details.error_code is None

    color = client.get_string_details("button_color", "red")
    assert (color.value, color.variant, color.reason) == ("#00f", "blue", Reason.STATIC)
    assert client.get_integer_value("max_items", 0) == 25
    assert client.get_float_value("ratio", 0.0) == 0.25
    assert client.get_object_value("config", {}) == {"engine": "ai", "depth": 2}
    assert client.get_object_value("regions", []) == ["eu", "us"]

    disabled = client.get_boolean_details("kill_me", True)
    assert (disabled.value, disabled.variant, disabled.reason) == (False, "off", Reason.DISABLED)
    prereq = client.get_boolean_details("needs_search", True, EvaluationContext("x", {"plan": "free"}))
    if not flags.is_enabled("new_search", {"targeting_key": "x"}):
        assert prereq.reason == "PREREQUISITE_FAILED"
    assert prereq.value is flags.is_enabled("needs_search", {"targeting_key": "x", "plan": "free"})


def test_targeting_key_buckets_like_flagkit(flags: Flags) -> None:
    api.set_provider_and_wait(FlagkitProvider(flags))
    client = api.get_client()
    inside, outside = users_in_canary(flags)
    details = client.get_boolean_details("new_search", False, EvaluationContext(inside))
    assert (details.value, details.reason, details.flag_metadata) == (True, Reason.SPLIT, {"rule": "canary"})
    assert client.get_boolean_value("new_search", True, EvaluationContext(outside)) is False
    # 20 % of 2,000 targeting keys, each answered exactly as flagkit answers the same key
    keys = [f"user-{i}" for i in range(2000)]
    served = [client.get_boolean_value("new_search", False, EvaluationContext(k)) for k in keys]
    assert served == [flags.is_enabled("new_search", {"targeting_key": k}) for k in keys]
    assert 300 < sum(served) < 500
    # without a targeting key nobody can be bucketed: the default variant
    no_key = client.get_boolean_details("new_search", True, EvaluationContext(None, {"plan": "free"}))
    assert (no_key.value, no_key.reason) == (False, Reason.DEFAULT)


def test_context_merging_follows_openfeature(flags: Flags) -> None:
    """api-level context < client context < invocation context, then handed to flagkit."""
    api.set_provider_and_wait(FlagkitProvider(flags))
    api.set_evaluation_context(EvaluationContext(None, {"plan": "staff"}))
    client = api.get_client()
    assert client.get_boolean_details("new_search", False).reason == Reason.TARGETING_MATCH
    invocation = EvaluationContext("k", {"plan": "free"})
    assert client.get_boolean_details("new_search", False, invocation).reason == Reason.SPLIT
    assert to_context(EvaluationContext("k", {"targeting_key": "spoof", "a": 1})) == {
        "targeting_key": "k",
        "a": 1,
    }
    assert to_context(EvaluationContext()) is None


@pytest.mark.parametrize(
    ("method", "key", "default"),
    [
        ("get_integer_details", "new_search", 7),  # bool is not an int for OpenFeature
        ("get_boolean_details", "max_items", False),  # nor an int a bool
        ("get_integer_details", "ratio", 1),  # a float is not an int
        ("get_string_details", "max_items", "x"),
        ("get_object_details", "max_items", {}),
        ("get_boolean_details", "config", True),
    ],
)
def test_type_mismatch(flags: Flags, method: str, key: str, default: Any) -> None:
    api.set_provider_and_wait(FlagkitProvider(flags))
    details: FlagEvaluationDetails[Any] = getattr(api.get_client(), method)(
        key, default, EvaluationContext("u1")
    )
    assert details.value == default
    assert details.error_code is ErrorCode.TYPE_MISMATCH
    assert details.reason == Reason.ERROR


def test_int_is_served_as_float(flags: Flags) -> None:
    api.set_provider_and_wait(FlagkitProvider(flags))
    details = api.get_client().get_float_details("max_items", 1.5)
    assert details.value == 25.0
    assert type(details.value) is float
    assert details.error_code is None
    assert api.get_client().get_float_value("ratio", 1) == 0.25  # an int default works too


CODE_DEFAULT_FLAGS = {
    "features": {
        # `code_default`: serve the default the calling code passed (here, unless beta is on)
        key: {
            "variants": {"set": value},
            "default": "code_default",
            "rules": [{"when": {"beta": True}, "serve": "set"}],
        }
        for key, value in [
            ("b", True),
            ("s", "x"),
            ("i", 3),
            ("f", 2.5),
            ("obj", {"x": 1}),
            ("lst", [1, 2]),
        ]
    }
    | {
        "killed": {
            "enabled": False,
            "variants": {"set": {"x": 1}},
            "default": "set",
            "off_variant": "code_default",
        }
    }
}
CODE_DEFAULT_CALLS = [
    ("get_boolean_details", "b", False, True),
    ("get_string_details", "s", "mine", "x"),
    ("get_integer_details", "i", 7, 3),
    ("get_float_details", "f", 7.5, 2.5),
    ("get_float_details", "i", 7.5, 3.0),  # an integer is served as a float
    ("get_object_details", "obj", {"d": 1}, {"x": 1}),
    ("get_object_details", "lst", [0], [1, 2]),
    ("get_object_details", "obj", ["a list default"], None),  # a list for a mapping: mismatch
]


@pytest.mark.parametrize(("method", "key", "default", "served"), CODE_DEFAULT_CALLS)
def test_code_default_serves_the_callers_default_for_every_type(
    openfeature_api: None, method: str, key: str, default: Any, served: Any
) -> None:
    with Flags.from_dict(CODE_DEFAULT_FLAGS) as flags:
        api.set_provider_and_wait(FlagkitProvider(flags))
        client = api.get_client()
        details: FlagEvaluationDetails[Any] = getattr(client, method)(key, default, EvaluationContext("u1"))
        assert (details.value, details.variant, details.reason) == (default, None, Reason.DEFAULT)
        assert details.error_code is None

        async def main() -> FlagEvaluationDetails[Any]:
            return await getattr(client, method + "_async")(key, default)  # type: ignore[no-any-return]

        assert asyncio.run(main()).value == default
        # The flag's own value once a rule serves one, or a mismatch.
        beta = getattr(client, method)(key, default, EvaluationContext("u1", {"beta": True}))
        if served is None:
            assert (beta.value, beta.error_code) == (default, ErrorCode.TYPE_MISMATCH)
        else:
            assert (beta.value, beta.variant, beta.reason) == (served, "set", Reason.TARGETING_MATCH)
            assert type(beta.value) is type(served)


def test_code_default_of_a_killed_flag_keeps_the_reason(openfeature_api: None) -> None:
    with Flags.from_dict(CODE_DEFAULT_FLAGS) as flags:
        api.set_provider_and_wait(FlagkitProvider(flags))
        details = api.get_client().get_object_details("killed", {"d": 1})
    assert (details.value, details.variant, details.reason) == ({"d": 1}, None, Reason.DISABLED)


@pytest.mark.parametrize(
    ("key", "default", "ok"),
    [
        ("config", {}, True),
        ("config", [], False),  # a mapping is not a list
        ("regions", [], True),
        ("regions", (), True),  # a tuple default is a list default
        ("regions", {}, False),  # a list is not a mapping
        ("max_items", {}, False),
    ],
)
def test_an_object_is_of_the_defaults_kind(flags: Flags, key: str, default: Any, ok: bool) -> None:
    api.set_provider_and_wait(FlagkitProvider(flags))
    details = api.get_client().get_object_details(key, default)
    assert (details.error_code is None) is ok
    assert details.value == (flags.get_value(key, None) if ok else default)


def test_guard_tripped_is_passed_as_that_reason(flags: Flags) -> None:
    api.set_provider_and_wait(FlagkitProvider(flags))
    with flags.guarded(
        "new_search", guard=Guard(min_calls=1, max_failure_rate=0.1), context={"plan": "staff"}
    ) as g:
        assert g.enabled
        raise RuntimeError("the new path failed")
    details = api.get_client().get_boolean_details(
        "new_search", True, EvaluationContext("u1", {"plan": "staff"})
    )
    assert (details.value, details.variant, details.reason) == (False, "off", "GUARD_TRIPPED")


def test_the_module_docstring_example_runs(
    openfeature_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = flagkit.integrations.openfeature.__doc__ or ""
    example = textwrap.dedent(doc.split("::", 1)[1].split("\nMapping", 1)[0])
    (tmp_path / "features.yaml").write_text("features:\n  new_search: true\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    initialize = FlagkitProvider.initialize

    def slow_first_load(self: FlagkitProvider, evaluation_context: EvaluationContext) -> None:
        time.sleep(0.2)  # as a remote source's first load takes a moment
        initialize(self, evaluation_context)

    monkeypatch.setattr(FlagkitProvider, "initialize", slow_first_load)
    namespace: dict[str, Any] = {}
    exec(compile(example, "openfeature docstring", "exec"), namespace)
    # Evaluated right away, the flag's value: the provider was ready (not PROVIDER_NOT_READY).
    client = namespace["client"]
    details = client.get_boolean_details("new_search", False)
    assert (details.value, details.error_code) == (True, None)
    provider = api.provider_registry.get_provider(None)
    assert isinstance(provider, FlagkitProvider)
    provider.flags.close()


def test_unknown_flag_and_strict_mode(openfeature_api: None) -> None:
    with Flags.from_dict(FLAGS, strict=True) as strict:
        api.set_provider_and_wait(FlagkitProvider(strict))
        details = api.get_client().get_string_details("nope", "fallback")
    assert (details.value, details.error_code, details.reason) == (
        "fallback",
        ErrorCode.FLAG_NOT_FOUND,
        Reason.ERROR,
    )


def test_overrides_show_as_override_reason(flags: Flags) -> None:
    api.set_provider_and_wait(FlagkitProvider(flags))
    with override_flags(flags, {"new_search": True}):
        details = api.get_client().get_boolean_details("new_search", False, EvaluationContext("u"))
    assert (details.value, details.reason, details.variant) == (True, "OVERRIDE", "on")


def test_async_variants(flags: Flags) -> None:
    api.set_provider_and_wait(FlagkitProvider(flags))
    client = api.get_client()

    async def main() -> list[Any]:
        staff = EvaluationContext("a", {"plan": "staff"})
        return [
            await client.get_boolean_value_async("new_search", False, staff),
            await client.get_string_value_async("button_color", ""),
            await client.get_integer_value_async("max_items", 0),
            await client.get_float_value_async("ratio", 0.0),
            await client.get_object_value_async("config", {}),
            (await client.get_integer_details_async("ratio", 3)).error_code,
        ]

    assert asyncio.run(main()) == [
        True,
        "#00f",
        25,
        0.25,
        {"engine": "ai", "depth": 2},
        ErrorCode.TYPE_MISMATCH,
    ]


class RecordingHook(Hook):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def before(self, hook_context: HookContext, hints: HookHints) -> EvaluationContext | None:
        self.calls.append(("before", hook_context.evaluation_context.targeting_key))
        return EvaluationContext(None, {"plan": "staff"})  # hooks may add context

    def after(self, hook_context: HookContext, details: FlagEvaluationDetails[Any], hints: HookHints) -> None:
        assert hook_context.provider_metadata is not None
        self.calls.append(("after", (hook_context.provider_metadata.name, details.variant, details.reason)))

    def error(self, hook_context: HookContext, exception: Exception, hints: HookHints) -> None:
        self.calls.append(("error", type(exception).__name__))

    def finally_after(
        self, hook_context: HookContext, details: FlagEvaluationDetails[Any], hints: HookHints
    ) -> None:
        self.calls.append(("finally", details.error_code))


def test_hooks_registered_on_the_openfeature_client(flags: Flags) -> None:
    api.set_provider_and_wait(FlagkitProvider(flags, name="flagkit-test"))
    client = api.get_client()
    hook = RecordingHook()
    client.add_hooks([hook])
    assert (
        client.get_boolean_value("new_search", False, EvaluationContext("u-9")) is True
    )  # before added plan
    assert hook.calls == [
        ("before", "u-9"),
        ("after", ("flagkit-test", "on", Reason.TARGETING_MATCH)),
        ("finally", None),
    ]
    hook.calls.clear()
    seen: list[tuple[str, str | None, str]] = []

    class FlagkitSide(FlagkitHook):  # flagkit's own hooks see evaluations made through OpenFeature too
        def finally_after(self, hook_context: FlagkitHookContext, details: Evaluation[Any]) -> None:
            seen.append(
                (hook_context.flag_key, details.variant, str(hook_context.context.get("targeting_key")))
            )

    flags.add_hook(FlagkitSide())
    assert client.get_integer_value("new_search", 3) == 3
    assert [name for name, _ in hook.calls] == ["before", "error", "finally"]
    assert hook.calls[-1] == ("finally", ErrorCode.TYPE_MISMATCH)
    client.get_boolean_value("new_search", False, EvaluationContext("u-10"))
    assert seen == [("new_search", None, "None"), ("new_search", "on", "u-10")]


@pytest.mark.slow
def test_provider_events_from_a_watched_file(openfeature_api: None, tmp_path: Path) -> None:
    path = tmp_path / "flags dir é" / "features.yaml"
    path.parent.mkdir()
    write_flags(path, "features:\n  a: true\n  b: 1\n")
    events = Events()
    with Flags(FileProvider(path, poll_interval=0.1)) as flags:
        api.set_provider_and_wait(FlagkitProvider(flags))
        client = api.get_client()
        assert wait_for(lambda: len(events.of(ProviderEvent.PROVIDER_READY)) == 1)
        assert events.of(ProviderEvent.PROVIDER_READY)[0].provider_name == "flagkit"

        write_flags(path, "features:\n  a: false\n  b: 1\n  c: x\n")
        assert wait_for(lambda: bool(events.of(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)), 10)
        assert events.of(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)[0].flags_changed == ["a", "c"]
        assert client.get_boolean_value("a", True) is False

        write_flags(path, "features: [not, a, mapping\n")  # broken: the last good flags stay
        assert wait_for(lambda: bool(events.of(ProviderEvent.PROVIDER_STALE)), 10)
        stale = events.of(ProviderEvent.PROVIDER_STALE)[0]
        assert stale.message is not None
        assert "features.yaml" in stale.message
        assert client.get_provider_status() is ProviderStatus.STALE
        assert client.get_boolean_value("a", True) is False

        write_flags(path, "features:\n  a: true\n  b: 1\n  c: x\n")
        assert wait_for(lambda: len(events.of(ProviderEvent.PROVIDER_READY)) == 2, 10)
        assert wait_for(lambda: len(events.of(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)) == 2)
        assert events.of(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)[1].flags_changed == ["a"]
        assert client.get_provider_status() is ProviderStatus.READY
    assert len(events.of(ProviderEvent.PROVIDER_STALE)) == 1  # a source that keeps failing says it once


@pytest.mark.slow
def test_error_before_first_load_then_ready(openfeature_api: None, tmp_path: Path) -> None:
    path = tmp_path / "features.yaml"
    events = Events()
    with Flags(FileProvider(path, poll_interval=0.1)) as flags:
        provider = FlagkitProvider(flags, ready_timeout=0.2)
        api.set_provider(provider)  # initialize runs in the SDK's thread and times out
        client = api.get_client()
        assert wait_for(lambda: bool(events.of(ProviderEvent.PROVIDER_ERROR)), 10)
        assert client.get_provider_status() is ProviderStatus.ERROR
        details = client.get_boolean_details("a", True)
        assert (details.value, details.error_code) == (True, ErrorCode.PROVIDER_NOT_READY)

        write_flags(path, "features:\n  a: false\n")
        assert wait_for(lambda: bool(events.of(ProviderEvent.PROVIDER_READY)), 10)
        assert client.get_provider_status() is ProviderStatus.READY
        assert client.get_boolean_value("a", True) is False


def test_shutdown_detaches_and_optionally_closes(openfeature_api: None) -> None:
    flags = Flags.from_dict(FLAGS)
    api.set_provider_and_wait(FlagkitProvider(flags, close_on_shutdown=True))
    assert api.get_client().get_integer_value("max_items", 0) == 25
    api.shutdown()
    assert flags._closed  # the provider owned it
    with pytest.raises(TypeError, match="Flags"):
        FlagkitProvider(object())  # type: ignore[arg-type]  # misuse on purpose


@pytest.mark.slow
def test_ready_again_when_a_bad_edit_is_reverted_to_the_same_flags(
    openfeature_api: None, tmp_path: Path
) -> None:
    """A reverted bad deploy changes no flag (no on_change): READY must still be emitted, and
    without anything evaluating through OpenFeature meanwhile."""
    path = tmp_path / "features.yaml"
    good = "features:\n  a: true\n"
    write_flags(path, good)
    events = Events()
    with Flags(FileProvider(path, poll_interval=0.1)) as flags:
        api.set_provider_and_wait(FlagkitProvider(flags))
        client = api.get_client()
        assert wait_for(lambda: len(events.of(ProviderEvent.PROVIDER_READY)) == 1)
        for rounds in (1, 2):  # twice: every recovery is told
            write_flags(path, "features: [broken\n")
            assert wait_for(lambda n=rounds: len(events.of(ProviderEvent.PROVIDER_STALE)) == n, 10)
            write_flags(path, good)
            assert wait_for(lambda n=rounds: len(events.of(ProviderEvent.PROVIDER_READY)) == n + 1, 10)
            assert flags.status()[f"file:{path}"].state == "ready"
        assert client.get_provider_status() is ProviderStatus.READY
        assert events.of(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED) == []  # nothing changed


def test_ready_again_for_each_source_that_recovers_with_the_same_flags(openfeature_api: None) -> None:
    from tests.helpers.providers import ManualProvider

    first, second = ManualProvider({"a": True}, name="one"), ManualProvider({"b": 1}, name="two")
    events = Events()
    with Flags(first, second) as flags:
        api.set_provider_and_wait(FlagkitProvider(flags))
        assert wait_for(lambda: len(events.of(ProviderEvent.PROVIDER_READY)) == 1)
        first.fail(OSError("down"))
        second.fail(OSError("down"))
        assert wait_for(lambda: len(events.of(ProviderEvent.PROVIDER_STALE)) == 1)
        first.publish({"a": True})  # one back: the client is still stale (the other is not)
        assert flags.flush_listeners(5)
        assert len(events.of(ProviderEvent.PROVIDER_READY)) == 1
        second.publish({"b": 1})  # both back, same flags: READY
        assert wait_for(lambda: len(events.of(ProviderEvent.PROVIDER_READY)) == 2)


@pytest.mark.slow
def test_a_dead_watcher_thread_is_an_error_then_ready_again(
    openfeature_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider thread that dies (SystemExit from user code) is PROVIDER_ERROR; the client
    restarts it with the same flags, which is PROVIDER_READY again."""
    from tests.providers.test_faults import fail_in_loop

    path = tmp_path / "features.yaml"
    write_flags(path, "features:\n  a: true\n")
    events = Events()
    provider = FileProvider(path, poll_interval=0.05)
    with Flags(provider) as flags:
        api.set_provider_and_wait(FlagkitProvider(flags))
        assert wait_for(lambda: len(events.of(ProviderEvent.PROVIDER_READY)) == 1)
        fail_in_loop(monkeypatch, provider, SystemExit)  # ends the watcher thread at its next poll
        assert wait_for(lambda: provider.failure() is not None, 10)
        flags.status()  # what a health check does: notices the dead thread, restarts it
        assert wait_for(lambda: bool(events.of(ProviderEvent.PROVIDER_ERROR)), 10)
        assert wait_for(lambda: len(events.of(ProviderEvent.PROVIDER_READY)) == 2, 10)
        assert api.get_client().get_boolean_value("a", False) is True
