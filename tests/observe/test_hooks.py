"""Evaluation hooks: stages, order, arguments, provider names, isolation of failing hooks."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from flagkit import ErrorCode, Evaluation, FlagNotFoundError, Flags, Hook, HookContext, Reason
from flagkit.testing import override_flags
from tests.helpers.providers import ManualProvider

DOC = {
    "features": {
        "beta": {"rules": [{"name": "us", "when": {"country": "US"}, "serve": "on"}]},
        "color": {"variants": {"blue": "blue", "green": "green"}, "default": "blue"},
        "limit": 10,
        "ratio": {"variants": {"low": 1, "high": 2.5}, "default": "low"},
        "gated": {"requires": ["beta"], "rules": [{"serve": "on"}]},
    }
}


class Recorder(Hook):
    """Records every stage call as a tuple."""

    def __init__(self, name: str = "r", events: list[tuple[Any, ...]] | None = None) -> None:
        self.name = name
        self.events: list[tuple[Any, ...]] = [] if events is None else events

    def before(self, hook_context: HookContext) -> None:
        self.events.append((self.name, "before", hook_context))

    def after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
        self.events.append((self.name, "after", hook_context, details))

    def error(self, hook_context: HookContext, exception: Exception, details: Evaluation[Any]) -> None:
        self.events.append((self.name, "error", hook_context, exception, details))

    def finally_after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
        self.events.append((self.name, "finally_after", hook_context, details))


@pytest.fixture
def flags() -> Flags:
    return Flags.from_dict(DOC)


def test_no_hooks_means_no_runner_on_the_snapshot(flags: Flags) -> None:
    assert flags._snapshot.hooks is None
    hook = flags.add_hook(Recorder())
    assert flags._snapshot.hooks is not None
    flags.remove_hook(hook)
    assert flags._snapshot.hooks is None
    assert flags.hooks == ()


def test_stages_run_with_key_default_context_provider_and_details(flags: Flags) -> None:
    recorder = flags.add_hook(Recorder())
    assert flags.is_enabled("beta", {"country": "US"}) is True
    names = [event[1] for event in recorder.events]
    assert names == ["before", "after", "finally_after"]
    hc = recorder.events[0][2]
    assert hc == HookContext("beta", False, {"country": "US"}, "dict", "is_enabled")
    details = recorder.events[1][3]
    assert (details.key, details.value, details.variant, details.reason, details.rule) == (
        "beta",
        True,
        "on",
        Reason.TARGETING_MATCH,
        "us",
    )
    assert recorder.events[2][3] is details


def test_before_hooks_run_in_order_and_the_rest_in_reverse(flags: Flags) -> None:
    events: list[tuple[Any, ...]] = []
    flags.add_hook(Recorder("a", events))
    flags.add_hook(Recorder("b", events))
    flags.get_value("color", "red")
    assert [(e[0], e[1]) for e in events] == [
        ("a", "before"),
        ("b", "before"),
        ("b", "after"),
        ("a", "after"),
        ("b", "finally_after"),
        ("a", "finally_after"),
    ]


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda f: f.is_enabled("beta", {"country": "US"}), True),
        (lambda f: f.is_enabled("beta", {"country": "DE"}), False),
        (lambda f: f.is_enabled("color"), False),  # a string flag is not a boolean
        (lambda f: f.is_enabled("missing"), False),
        (lambda f: f.get_value("color", "red"), "blue"),
        (lambda f: f.get_value("limit", 0), 10),
        (lambda f: f.get_value("limit", 0.5), 10.0),
        (lambda f: f.get_value("limit", "x"), "x"),
        (lambda f: f.get_value("missing", 7), 7),
        (lambda f: f.get_value("ratio", None), 1),
        (lambda f: f.variant("color"), "blue"),
        (lambda f: f.variant("missing"), None),
        (lambda f: f.variant("beta", ["not", "a", "mapping"]), None),
        (lambda f: f.evaluate("gated", False, {"country": "US"}).reason, Reason.TARGETING_MATCH),
        (lambda f: f.evaluate("gated", False).reason, Reason.PREREQUISITE_FAILED),
        (lambda f: f.evaluate("limit", "x").error_code, ErrorCode.TYPE_MISMATCH),
    ],
)
def test_results_are_the_same_with_and_without_hooks(flags: Flags, call: Any, expected: Any) -> None:
    plain = call(flags)
    assert plain == expected
    assert type(plain) is type(expected)
    flags.add_hook(Recorder())
    hooked = call(flags)
    assert hooked == expected
    assert type(hooked) is type(expected)


OBSERVED = {
    "features": {
        **DOC["features"],
        "cd": {
            "variants": {"x": "X"},
            "default": "code_default",
            "rules": [{"when": {"x": True}, "serve": "x"}],
        },
        "cfg": {"variants": {"v1": {"limits": [1]}, "v2": [1, 2]}, "default": "v1"},
        "tracked": {"track": True, "requires": ["beta"], "rules": [{"serve": {"on": 50, "off": 50}}]},
    }
}
CONTEXTS: list[Any] = [None, {"country": "US", "user_id": "u1"}, {"x": True}, ["not", "a", "mapping"]]
DEFAULTS: list[Any] = [False, True, "s", 0, 0.5, None, {}, []]
METHODS = {
    "is_enabled": lambda f, key, default, ctx: f.is_enabled(key, ctx),
    "get_value": lambda f, key, default, ctx: f.get_value(key, default, ctx),
    "variant": lambda f, key, default, ctx: f.variant(key, ctx),
    "evaluate": lambda f, key, default, ctx: f.evaluate(key, default, ctx),
}


def observed_client(how: str) -> Flags:
    client = Flags.from_dict(OBSERVED, usage="usage" in how, track_all="exposures" in how)
    if "exposures" in how:
        client.on_exposure(lambda exposure: None)
    if "hook" in how:
        client.add_hook(Recorder())
    return client


@pytest.mark.parametrize("how", ["hook", "usage", "exposures", "usage+exposures", "usage+exposures+hook"])
def test_observers_never_change_what_the_caller_gets(how: str) -> None:
    # Usage and exposures take the observed path of the evaluation methods: every method, flag,
    # default and context answers exactly as on a plain client.
    with Flags.from_dict(OBSERVED) as plain, observed_client(how) as observed:
        for method, call in METHODS.items():
            for key in [*OBSERVED["features"], "missing"]:
                for default in DEFAULTS:
                    for ctx in CONTEXTS:
                        expected = call(plain, key, default, ctx)
                        got = call(observed, key, default, ctx)
                        assert got == expected, (method, key, default, ctx)
                        assert type(got) is type(expected), (method, key, default, ctx)


def test_evaluate_details_are_equal_with_and_without_hooks(flags: Flags) -> None:
    cases = [
        ("beta", False, {"country": "US"}),
        ("limit", "x", None),
        ("missing", 1, None),
        ("ratio", 0.0, None),
    ]
    plain = [flags.evaluate(*case) for case in cases]
    flags.add_hook(Recorder())
    assert [flags.evaluate(*case) for case in cases] == plain


def test_error_stage_gets_the_exception_and_the_error_details(flags: Flags) -> None:
    recorder = flags.add_hook(Recorder())
    flags.get_value("missing", 3)
    flags.get_value("limit", "text")
    flags.is_enabled("beta", 42)  # type: ignore[arg-type]  # misuse: not a mapping
    errors = [e for e in recorder.events if e[1] == "error"]
    assert [type(e[3]) for e in errors] == [FlagNotFoundError, TypeError, AttributeError]
    assert [e[4].error_code for e in errors] == [
        ErrorCode.FLAG_NOT_FOUND,
        ErrorCode.TYPE_MISMATCH,
        ErrorCode.PARSE_ERROR,
    ]
    assert errors[0][2].provider_name is None  # no provider defines it
    assert errors[1][2].provider_name == "dict"
    assert not [e for e in recorder.events if e[1] == "after"]
    assert len([e for e in recorder.events if e[1] == "finally_after"]) == 3


def test_strict_mode_runs_error_and_finally_then_raises() -> None:
    flags = Flags.from_dict(DOC, strict=True)
    recorder = flags.add_hook(Recorder())
    with pytest.raises(FlagNotFoundError):
        flags.is_enabled("missing")
    assert [e[1] for e in recorder.events] == ["before", "error", "finally_after"]


def test_before_may_add_context_attributes(flags: Flags) -> None:
    class Locate(Hook):
        def before(self, hook_context: HookContext) -> dict[str, Any]:
            return {"country": "US"}

    flags.add_hook(Locate())
    recorder = flags.add_hook(Recorder())
    assert flags.is_enabled("beta", {"user_id": "u1"}) is True
    assert recorder.events[-1][2].context == {"user_id": "u1", "country": "US"}


def test_provider_name_is_the_provider_that_served_the_flag() -> None:
    first = ManualProvider({"a": 1}, name="first")
    second = ManualProvider({"a": 2, "b": 2}, name="second")
    flags = Flags(first, second)
    recorder = flags.add_hook(Recorder())
    flags.get_value("a", 0)
    flags.get_value("b", 0)
    assert [e[2].provider_name for e in recorder.events if e[1] == "before"] == ["first", "second"]
    first.publish({})  # a reload: "a" now comes from the second provider
    recorder.events.clear()
    assert flags.get_value("a", 0) == 2
    assert recorder.events[0][2].provider_name == "second"
    with override_flags(flags, a=5):
        recorder.events.clear()
        assert flags.get_value("a", 0) == 5
        assert recorder.events[0][2].provider_name == "override"


def test_a_raising_hook_never_breaks_evaluation_and_is_logged_once(
    flags: Flags, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Hook):
        def before(self, hook_context: HookContext) -> None:
            raise RuntimeError("before")

        def after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
            raise RuntimeError("after")

        def error(self, hook_context: HookContext, exception: Exception, details: Evaluation[Any]) -> None:
            raise RuntimeError("error")

        def finally_after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
            raise RuntimeError("finally")

    flags.add_hook(Broken())
    recorder = flags.add_hook(Recorder())
    with caplog.at_level(logging.ERROR, logger="flagkit"):
        for _ in range(3):
            assert flags.is_enabled("beta", {"country": "US"}) is True
            assert flags.get_value("missing", 1) == 1
    assert len([e for e in recorder.events if e[1] == "finally_after"]) == 6  # later hooks still ran
    failures = [r for r in caplog.records if "hook Broken" in r.getMessage()]
    assert sorted(r.getMessage().split()[2] for r in failures) == [
        "Broken.after",
        "Broken.before",
        "Broken.error",
        "Broken.finally_after",
    ]
    assert flags.stats()["hooks"] == {"registered": 2, "errors": 18}


def test_hooks_are_not_part_of_the_evaluation_context_logs(
    flags: Flags, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Hook):
        def after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
            raise RuntimeError("boom")

    flags.add_hook(Broken())
    with caplog.at_level(logging.ERROR, logger="flagkit"):
        flags.is_enabled("beta", {"email": "secret-user@example.com"})
    assert "secret-user" not in caplog.text


def test_duck_typed_hooks_and_misuse(flags: Flags) -> None:
    seen: list[str] = []

    class OnlyAfter:
        def after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
            seen.append(hook_context.flag_key)

    flags.add_hook(OnlyAfter())
    flags.is_enabled("beta")
    assert seen == ["beta"]
    with pytest.raises(TypeError, match="is not a hook"):
        flags.add_hook(object())
    flags.remove_hook(object())  # not registered: nothing happens
    assert len(flags.hooks) == 1


def test_hooks_survive_reloads() -> None:
    provider = ManualProvider({"a": True})
    flags = Flags(provider)
    recorder = flags.add_hook(Recorder())
    provider.publish({"a": False})
    assert flags.is_enabled("a") is False
    assert [e[1] for e in recorder.events] == ["before", "after", "finally_after"]


def test_pinned_snapshot_keeps_the_hooks_it_was_taken_with(flags: Flags) -> None:
    recorder = flags.add_hook(Recorder())
    with flags.snapshot():
        flags.is_enabled("beta")
    assert len(recorder.events) == 3


# --- hooks get read-only copies: nothing they write reaches the caller or another request --------


class Writer(Hook):
    """Writes into what it is given (the issue's leak), and keeps the context."""

    def __init__(self) -> None:
        self.kept: list[Any] = []

    def before(self, hook_context: HookContext) -> None:
        self.kept.append(hook_context.context)
        hook_context.context["plan"] = "staff"  # type: ignore[index]  # what the test proves impossible

    def after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
        details.value = "changed by a hook"
        if isinstance(details.value, dict):
            details.value["x"] = 1


STAFF_ONLY = {"staff_only": {"rules": [{"when": {"plan": "staff"}, "serve": "on"}]}}


def test_a_hook_writing_to_the_default_context_reaches_no_other_thread() -> None:
    # A before hook writing into hook_context.context wrote into the module-level empty
    # context, every thread's default: other clients in other threads then served "staff".
    import threading

    import flagkit
    from flagkit._context import EMPTY_CONTEXT

    writer = Writer()
    with Flags.from_dict(STAFF_ONLY) as flags, Flags.from_dict(STAFF_ONLY) as other:
        flags.add_hook(writer)
        assert flags.is_enabled("staff_only") is False  # no context given: the default one
        assert flags.stats()["hooks"]["errors"] == 1  # the write raised, inside the hook
        flags.remove_hook(writer)
        seen: dict[str, Any] = {}

        def elsewhere() -> None:
            seen["other"] = other.is_enabled("staff_only")
            seen["ambient"] = dict(flagkit.current_context())

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join(timeout=30)
        assert seen == {"other": False, "ambient": {}}
        assert dict(EMPTY_CONTEXT) == {}
        with pytest.raises(TypeError):
            EMPTY_CONTEXT["plan"] = "staff"  # type: ignore[index]  # immutable


def test_a_hook_cannot_change_the_callers_context_or_its_answer() -> None:
    writer = Writer()
    with Flags.from_dict({**STAFF_ONLY, "cfg": {"variants": {"a": {"limit": 1}}, "default": "a"}}) as flags:
        flags.add_hook(writer)
        caller = {"plan": "free", "account": {"id": "a1"}, "tags": ["x"]}
        assert flags.is_enabled("staff_only", caller) is False
        assert caller == {"plan": "free", "account": {"id": "a1"}, "tags": ["x"]}
        kept = writer.kept[-1]
        with pytest.raises(TypeError):
            kept["account"]["id"] = "b2"  # nested mappings are read-only too
        assert kept["tags"] == ("x",)
        caller["plan"] = "staff"  # the caller changes its dict later: the hook's copy does not
        assert kept["plan"] == "free"
        details = flags.evaluate("cfg", None)
        assert details.value == {"limit": 1}  # the hooks' copy of the details was changed, not this
        assert flags.get_value("cfg", None) == {"limit": 1}


def test_ambient_context_and_pinned_snapshots_are_read_only() -> None:
    import flagkit

    with Flags.from_dict(STAFF_ONLY) as flags:
        with flagkit.context(plan="free") as ambient:
            with pytest.raises(TypeError):
                ambient["plan"] = "staff"  # type: ignore[index]
            with pytest.raises(TypeError):
                flagkit.current_context()["plan"] = "staff"  # type: ignore[index]
            assert flags.is_enabled("staff_only") is False
        with flags.snapshot() as snap:
            with pytest.raises(TypeError):
                snap.table["staff_only"] = snap.table["staff_only"]  # type: ignore[index]
            with pytest.raises(TypeError):
                del snap.flags["staff_only"]  # type: ignore[attr-defined]
            assert flags.is_enabled("staff_only", {"plan": "staff"}) is True


def test_a_before_hook_adding_to_a_context_that_is_not_a_mapping_never_raises() -> None:
    class Adds(Hook):
        def before(self, hook_context: HookContext) -> dict[str, Any]:
            return {"plan": "staff"}

    with Flags.from_dict(STAFF_ONLY) as flags:
        flags.add_hook(Adds())
        details = flags.evaluate("staff_only", False, 5)  # type: ignore[arg-type]  # the mistake tested
        assert details.error_code is not None
        assert flags.is_enabled("staff_only", 5) is False  # type: ignore[arg-type]


def test_the_plain_default_context_never_reaches_user_code() -> None:
    # The default context is a plain dict (a proxy is slower to read on the evaluation path):
    # every path that hands a context to user code must hand a read-only copy or view.
    import threading

    import flagkit
    from flagkit._context import _EMPTY, AMBIENT

    received: list[Any] = []

    class Keeper(Hook):
        def before(self, hook_context: HookContext) -> None:
            received.append(hook_context.context)

        def after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
            received.append(hook_context.context)

        def error(self, hook_context: HookContext, exception: Exception, details: Evaluation[Any]) -> None:
            received.append(hook_context.context)

        def finally_after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
            received.append(hook_context.context)

    exposures: list[Any] = []
    with Flags.from_dict(
        {**STAFF_ONLY, "cfg": {"variants": {"a": {"k": 1}}, "default": "a"}}, track_all=True
    ) as flags:
        flags.add_hook(Keeper())
        flags.on_exposure(exposures.append)
        flags.is_enabled("staff_only")
        flags.get_value("cfg", {})
        flags.get_value("cfg", 1)  # a type mismatch: the error stage
        flags.variant("staff_only")
        flags.evaluate("nope", False)
        flags.all_values()
        flags.bootstrap()
        flags.flush_exposures()
        received.append(flagkit.current_context())
        with flagkit.context() as empty:
            received.append(empty)
    assert len(received) > 10
    for seen in received:
        assert seen is not _EMPTY
        with pytest.raises(TypeError):
            seen["plan"] = "staff"
    assert all(e.targeting_key is None for e in exposures)
    assert _EMPTY == {}
    found: list[Any] = []
    thread = threading.Thread(target=lambda: found.append(AMBIENT.get()))
    thread.start()
    thread.join(timeout=30)
    assert found == [{}]
