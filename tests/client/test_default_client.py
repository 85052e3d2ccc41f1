"""The module-level default client: `flagkit.configure()` and the module functions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

import flagkit
from flagkit import DictProvider, Flags, Reason
from flagkit._default import _reset
from flagkit.testing import override_flags

FLAGS = {
    "new_checkout": {"rules": [{"when": {"country": "US"}, "serve": "on"}]},
    "limit": 10,
    "engine": {
        "variants": {"legacy": "L", "ai": "A"},
        "default": "legacy",
        "rules": [{"when": {"plan": "pro"}, "serve": "ai"}],
    },
}


@pytest.fixture(autouse=True)
def fresh_default() -> Iterator[None]:
    _reset()
    yield
    _reset()


def test_unconfigured_default_serves_defaults_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="flagkit"):
        assert flagkit.is_enabled("new_checkout") is False
        assert flagkit.get_value("limit", 3) == 3
        assert flagkit.variant("engine") is None
    warnings = [r for r in caplog.records if "before flagkit.configure" in r.getMessage()]
    assert len(warnings) == 1  # once, not per call
    assert flagkit.get_client() is flagkit.get_client()


def test_configure_with_providers() -> None:
    client = flagkit.configure(DictProvider(FLAGS))
    assert flagkit.get_client() is client
    assert flagkit.is_enabled("new_checkout") is False
    assert flagkit.is_enabled("new_checkout", {"country": "US"}) is True
    assert flagkit.get_value("limit", 0) == 10
    assert flagkit.variant("engine", {"plan": "pro"}) == "ai"
    evaluation = flagkit.evaluate("engine", "", {"plan": "pro"})
    assert (evaluation.value, evaluation.variant, evaluation.reason) == ("A", "ai", Reason.TARGETING_MATCH)
    assert flagkit.all_values({"country": "US"}) == {"new_checkout": True, "limit": 10, "engine": "L"}
    with flagkit.context(country="US"):
        assert flagkit.is_enabled("new_checkout") is True


def test_configure_strict() -> None:
    flagkit.configure(DictProvider(FLAGS), strict=True)
    with pytest.raises(flagkit.FlagNotFoundError):
        flagkit.is_enabled("missing")


def test_configure_with_existing_client_does_not_close_it() -> None:
    mine = Flags.from_dict(FLAGS)
    assert flagkit.configure(flags=mine) is mine
    assert flagkit.get_value("limit", 0) == 10
    built = flagkit.configure(DictProvider({"limit": 1}))
    assert flagkit.get_value("limit", 0) == 1
    assert not mine._closed  # owned by the caller
    flagkit.configure(flags=mine)
    assert built._closed  # built by configure(): closed when replaced
    with pytest.raises(TypeError, match="not both"):
        flagkit.configure(DictProvider({}), flags=mine)
    with pytest.raises(TypeError, match=r"flagkit\.Flags"):
        flagkit.configure(flags=object())  # type: ignore[arg-type]  # testing misuse


def test_module_decorators_follow_a_later_configure() -> None:
    @flagkit.when("new_checkout", otherwise=lambda: "old")
    def checkout() -> str:
        return "new"

    @flagkit.variants("engine", context=lambda plan: {"plan": plan})
    def engine(plan: str) -> str:
        return "default"

    @engine.variant("ai")
    def _(plan: str) -> str:
        return "ai"

    flagkit.configure(DictProvider(FLAGS))  # after decorating, as in an app's start-up
    assert checkout() == "old"
    with flagkit.context(country="US"):
        assert checkout() == "new"
    assert engine("pro") == "ai"
    assert engine("free") == "default"
    flagkit.configure(DictProvider({"new_checkout": True}))
    assert checkout() == "new"


def test_module_when_with_explicit_context() -> None:
    flagkit.configure(DictProvider(FLAGS))

    @flagkit.when("new_checkout", context={"country": "US"})
    async def checkout() -> str:
        return "new"

    assert asyncio.run(checkout()) == "new"


def test_module_snapshot_pins_the_version() -> None:
    client = flagkit.configure(DictProvider({"limit": 1}))
    with flagkit.snapshot() as snap:
        assert snap.table.keys() == {"limit"}
        with override_flags(client, limit=2):
            assert flagkit.get_value("limit", 0) == 1  # pinned before the override
        assert flagkit.get_value("limit", 0) == 1
    with override_flags(limit=2):
        assert flagkit.get_value("limit", 0) == 2


def test_overrides_on_default_client() -> None:
    flagkit.configure(DictProvider(FLAGS))
    with override_flags(new_checkout=True):
        assert flagkit.is_enabled("new_checkout")
        assert flagkit.evaluate("new_checkout", False).reason is Reason.OVERRIDE
    assert not flagkit.is_enabled("new_checkout")


def test_overrides_of_the_default_client_follow_configure() -> None:
    """An override made before (or while) the app configures its client moves to the new
    client, keeps its nesting order, and leaves it when it ends (issue 16)."""
    outer = override_flags(limit=1, new_checkout=True)
    outer.enable()
    with override_flags(limit=2):
        first = flagkit.configure(DictProvider(FLAGS))
        assert flagkit.get_value("limit", 0) == 2
        assert flagkit.is_enabled("new_checkout")
        second = Flags(DictProvider(FLAGS))
        flagkit.configure(flags=second)
        assert second.get_value("limit", 0) == 2  # the inner one still wins on the new client
        assert first.get_value("limit", 0) == 10  # the replaced client keeps none
    assert second.get_value("limit", 0) == 1
    outer.disable()
    assert second.get_value("limit", 0) == 10
    assert not second.is_enabled("new_checkout")
    assert second.evaluate("limit", 0).reason is not Reason.OVERRIDE
    second.close()
