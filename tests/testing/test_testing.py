"""`override_flags` and the `flagkit_overrides` pytest fixture."""

from __future__ import annotations

import asyncio
import threading
import unittest
from collections.abc import Iterator

import pytest

import flagkit
from flagkit import Flags, Reason
from flagkit._default import _reset
from flagkit.testing import FlagOverrides, override_flags

pytest_plugins = ["pytester"]

FILE_FLAGS = {
    "new_checkout": False,
    "button_color": {"variants": {"blue": "#00f", "green": "#0f0"}, "default": "blue"},
}


@pytest.fixture
def flags() -> Iterator[Flags]:
    with Flags.from_dict(FILE_FLAGS) as client:
        yield client


@pytest.fixture
def default_client() -> Iterator[Flags]:
    client = flagkit.configure(flagkit.DictProvider(FILE_FLAGS))
    yield client
    _reset()


def test_context_manager_overrides_and_restores(flags: Flags) -> None:
    with override_flags(flags, new_checkout=True, button_color="green") as client:
        assert client is flags
        assert flags.is_enabled("new_checkout") is True
        assert flags.get_value("button_color", "") == "green"
        evaluation = flags.evaluate("new_checkout", False)
        assert evaluation.reason is Reason.OVERRIDE
        assert evaluation.value is True
    assert flags.is_enabled("new_checkout") is False
    assert flags.get_value("button_color", "") == "#00f"
    assert flags.evaluate("new_checkout", False).reason is Reason.STATIC


def test_overrides_nest_inner_wins_and_outer_restored(flags: Flags) -> None:
    with override_flags(flags, new_checkout=True, button_color="red"):
        with override_flags(flags, new_checkout=False):
            assert flags.is_enabled("new_checkout") is False
            assert flags.get_value("button_color", "") == "red"  # outer still applies
        assert flags.is_enabled("new_checkout") is True
    assert flags.is_enabled("new_checkout") is False


def test_same_instance_can_be_reentered(flags: Flags) -> None:
    on = override_flags(flags, new_checkout=True)
    with on, on:
        assert flags.is_enabled("new_checkout")
    assert not flags.is_enabled("new_checkout")
    with pytest.raises(RuntimeError, match="without enable"):
        on.disable()


def test_restored_when_block_raises(flags: Flags) -> None:
    seen: list[bool] = []

    def body() -> None:
        with override_flags(flags, new_checkout=True):
            seen.append(flags.is_enabled("new_checkout"))
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        body()
    assert seen == [True]
    assert flags.is_enabled("new_checkout") is False


def test_unknown_keys_can_be_overridden(flags: Flags) -> None:
    assert flags.evaluate("not_in_file_yet", False).is_error
    with override_flags(flags, {"not-in-file-yet": 7}, not_in_file_yet=True):
        assert flags.is_enabled("not_in_file_yet")
        assert flags.get_value("not-in-file-yet", 0) == 7
        assert "not_in_file_yet" in flags.keys()  # noqa: SIM118 - Flags.keys() is a method, not a dict
    assert flags.evaluate("not_in_file_yet", False).is_error


def test_overrides_seen_from_other_threads(flags: Flags) -> None:
    seen: list[bool] = []
    with override_flags(flags, new_checkout=True):
        worker = threading.Thread(target=lambda: seen.append(flags.is_enabled("new_checkout")))
        worker.start()
        worker.join()
    assert seen == [True]


def test_overrides_win_over_every_provider() -> None:
    first = flagkit.DictProvider({"x": 1}, name="first")
    second = flagkit.DictProvider({"x": 2}, name="second")
    with Flags(first, second) as flags, override_flags(flags, x=3):
        assert flags.get_value("x", 0) == 3


def test_decorator_on_function_restores_even_on_failure(flags: Flags) -> None:
    @override_flags(flags, new_checkout=True)
    def check(fail: bool) -> bool:
        """Docstring kept."""
        if fail:
            raise ValueError("boom")
        return flags.is_enabled("new_checkout")

    assert check(False) is True
    assert flags.is_enabled("new_checkout") is False
    with pytest.raises(ValueError, match="boom"):
        check(True)
    assert flags.is_enabled("new_checkout") is False
    assert check.__name__ == "check"
    assert check.__doc__ == "Docstring kept."


def test_decorator_on_async_function(flags: Flags) -> None:
    @override_flags(flags, new_checkout=True)
    async def check() -> bool:
        await asyncio.sleep(0)
        return flags.is_enabled("new_checkout")

    assert asyncio.run(check()) is True
    assert flags.is_enabled("new_checkout") is False


def test_decorator_on_testcase_class(flags: Flags) -> None:
    seen: list[tuple[str, bool]] = []

    @override_flags(flags, new_checkout=True)
    class CheckoutTests(unittest.TestCase):
        def setUp(self) -> None:
            seen.append(("setUp", flags.is_enabled("new_checkout")))

        def test_on(self) -> None:
            seen.append(("test_on", flags.is_enabled("new_checkout")))

        @override_flags(flags, new_checkout=False)
        def test_inner_wins(self) -> None:
            seen.append(("test_inner_wins", flags.is_enabled("new_checkout")))

        def test_fails(self) -> None:
            raise AssertionError("expected failure")

    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(CheckoutTests).run(result)
    assert result.testsRun == 3
    assert len(result.failures) == 1
    assert ("test_on", True) in seen
    assert ("test_inner_wins", False) in seen
    assert all(on for name, on in seen if name == "setUp")
    assert flags.is_enabled("new_checkout") is False  # restored after each test, even the failing one
    assert flags.evaluate("new_checkout", False).reason is Reason.STATIC


def test_decorator_on_plain_test_class(flags: Flags) -> None:
    @override_flags(flags, new_checkout=True)
    class TestPlain:
        def test_on(self) -> bool:
            return flags.is_enabled("new_checkout")

        def helper(self) -> bool:
            return flags.is_enabled("new_checkout")

    assert TestPlain().test_on() is True
    assert TestPlain().helper() is False


def test_default_client_when_flags_omitted(default_client: Flags) -> None:
    with override_flags(new_checkout=True) as client:
        assert client is default_client
        assert flagkit.is_enabled("new_checkout")
    with override_flags({"new-checkout": True}):
        assert flagkit.is_enabled("new-checkout")
    assert not flagkit.is_enabled("new_checkout")


def test_decorator_looks_up_default_client_when_called() -> None:
    @override_flags(new_checkout=True)
    def check() -> bool:
        return flagkit.is_enabled("new_checkout")

    client = flagkit.configure(flagkit.DictProvider(FILE_FLAGS))  # configured after decorating
    try:
        assert check() is True
        assert client.is_enabled("new_checkout") is False
    finally:
        _reset()


def test_misuse_raises_type_error() -> None:
    with pytest.raises(TypeError, match=r"expects a flagkit\.Flags"):
        override_flags("not a client")  # type: ignore[arg-type]  # testing misuse
    with pytest.raises(TypeError, match="decorates functions and classes"):
        override_flags(new_checkout=True)(42)  # type: ignore[call-overload]  # testing misuse
    assert "new_checkout" in repr(override_flags(new_checkout=True))


# --- FlagOverrides / the pytest fixture -------------------------------------------------------


def test_flag_overrides_object(flags: Flags) -> None:
    overrides = FlagOverrides().use(flags)
    assert overrides.flags is flags
    overrides.set("new_checkout", True)
    overrides.update({"button_color": "green"}, extra=1)
    overrides.update()
    assert flags.is_enabled("new_checkout")
    assert flags.get_value("extra", 0) == 1
    with override_flags(flags, new_checkout=False):
        assert not flags.is_enabled("new_checkout")
        overrides.set("new_checkout", True)  # later wins
        assert flags.is_enabled("new_checkout")
    overrides.clear()
    assert not flags.is_enabled("new_checkout")
    assert flags.get_value("button_color", "") == "#00f"
    with pytest.raises(TypeError):
        overrides.use(object())  # type: ignore[arg-type]  # testing misuse


def test_fixture_with_default_client(default_client: Flags, flagkit_overrides: FlagOverrides) -> None:
    flagkit_overrides.set("new_checkout", True)
    assert flagkit.is_enabled("new_checkout")
    assert flagkit.evaluate("new_checkout", False).reason is Reason.OVERRIDE


def test_fixture_is_undone_after_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import flagkit

        FLAGS = flagkit.Flags.from_dict({"new_checkout": False})

        def test_set(flagkit_overrides):
            flagkit_overrides.use(FLAGS).set("new_checkout", True)
            assert FLAGS.is_enabled("new_checkout")

        def test_set_then_fail(flagkit_overrides):
            flagkit_overrides.use(FLAGS).set("new_checkout", True)
            raise AssertionError("boom")

        def test_clean():
            assert not FLAGS.is_enabled("new_checkout")

        def test_default_client(flagkit_overrides):
            flagkit.configure(flagkit.DictProvider({"new_checkout": False}))
            flagkit_overrides.set("new_checkout", True)
            assert flagkit.is_enabled("new_checkout")

        def test_default_client_clean():
            assert not flagkit.is_enabled("new_checkout")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1)


KINDS = {
    "new_checkout": False,
    "max_upload_mb": {"variants": {"small": 10, "big": 100}, "default": "small"},
    "ratio": {"variants": {"half": 0.5, "all": 1.0}, "default": "half"},
    "config": {"variants": {"v1": {"limit": 1}}, "default": "v1"},
}


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("new_checkout", "yes", "serves a boolean, not a string ('yes'): is_enabled() would be False"),
        ("new_checkout", 1, "serves a boolean, not an integer (1)"),
        ("max_upload_mb", True, "serves an integer, not a boolean (True): get_value() returns its default"),
        ("max_upload_mb", "50", "serves an integer, not a string"),
        ("ratio", "0.5", "serves a number, not a string"),
        ("config", [1], "serves a mapping, not a list"),
    ],
)
def test_a_value_the_flags_callers_cannot_receive_is_refused(key: str, value: object, words: str) -> None:
    # Accepted before: the test then silently ran the default path (is_enabled False for
    # "yes", get_value(key, 10) returning 10 for True).
    with Flags.from_dict(KINDS) as flags:
        with pytest.raises(TypeError, match=rf"flag '{key}' {words}".replace("(", r"\(").replace(")", r"\)")):
            override_flags(flags, {key: value}).enable()
        fixture = FlagOverrides(flags)
        with pytest.raises(TypeError, match=f"flag '{key}'"):
            fixture.set(key, value)
        assert flags.evaluate(key, None).reason is not Reason.OVERRIDE  # nothing was pushed


def test_values_the_callers_can_receive_are_accepted() -> None:
    with Flags.from_dict(KINDS) as flags:
        with override_flags(flags, new_checkout=True, max_upload_mb=50, ratio=1, config={"limit": 2}):
            assert flags.is_enabled("new_checkout")
            assert flags.get_value("max_upload_mb", 10) == 50
            assert flags.get_value("ratio", 0.0) == 1.0
            assert flags.get_value("config", {}) == {"limit": 2}
        with override_flags(flags, not_in_the_file_yet="anything"):
            assert flags.get_value("not_in_the_file_yet", "") == "anything"
