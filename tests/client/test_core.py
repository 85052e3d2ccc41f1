"""The evaluation core (flagkit._client.core): one template, four generated methods, constant
flags served pre-built, reported misses cached per snapshot."""

from __future__ import annotations

import inspect
import linecache
import traceback
from types import MappingProxyType
from typing import Any

import pytest

from flagkit import ErrorCode, FlagNotFoundError, Flags, Reason
from flagkit._client.problems import MAX_WARNED
from tests.helpers.providers import ManualProvider

DOC = {"on": True, "limit": 10, "rule": {"rules": [{"when": {"country": "US"}, "serve": "on"}]}}


def test_the_generated_methods_show_their_source() -> None:
    for name in ("is_enabled", "get_value", "variant", "evaluate"):
        method = getattr(Flags, name)
        filename = method.__code__.co_filename
        assert filename == f"<flagkit generated Flags.{name}>"
        assert linecache.getline(filename, 1).startswith(f"def {name}(self, key: str")
        assert f"def {name}(" in inspect.getsource(method)
        assert method.__doc__


def test_a_traceback_through_a_generated_method_shows_its_lines() -> None:
    flags = Flags.from_dict(DOC, strict=True)
    with pytest.raises(FlagNotFoundError) as raised:
        flags.is_enabled("nope")
    text = "".join(traceback.format_tb(raised.tb))
    assert "<flagkit generated Flags.is_enabled>" in text
    assert "return self._missing(key, snap, False)" in text


def test_a_miss_is_said_once_then_costs_a_lookup_and_answers_the_same(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flags = Flags.from_dict(DOC)
    for _ in range(3):
        assert flags.is_enabled("nope") is False
        assert flags.get_value("nope", 7) == 7
        assert flags.get_value("nope", None) is None
        assert flags.variant("nope") is None
        details = flags.evaluate("nope", 7)
        assert (details.value, details.reason, details.error_code) == (
            7,
            Reason.ERROR,
            ErrorCode.FLAG_NOT_FOUND,
        )
    assert len([r for r in caplog.records if "'nope' is not defined" in r.getMessage()]) == 1
    assert flags.get_flag("nope") is None  # the miss is cached outside the public table
    assert "nope" not in flags._snapshot.table


def test_a_cached_miss_is_forgotten_when_the_flag_appears() -> None:
    provider = ManualProvider()
    flags = Flags(provider)
    provider.publish({"a": True})
    assert flags.wait_ready(10)
    assert flags.is_enabled("b") is False
    assert flags.is_enabled("b") is False
    provider.publish({"a": True, "b": True})
    assert flags.is_enabled("b") is True
    flags.close()


def test_strict_mode_raises_for_every_miss() -> None:
    flags = Flags.from_dict(DOC, strict=True)
    for _ in range(3):
        with pytest.raises(FlagNotFoundError):
            flags.is_enabled("nope")
        with pytest.raises(FlagNotFoundError):
            flags.evaluate("nope", 1)


def test_cached_misses_are_bounded_per_snapshot() -> None:
    flags = Flags.from_dict(DOC)
    for i in range(MAX_WARNED + 500):
        assert flags.get_value(f"dynamic-{i}", i) == i
    fast = flags._snapshot.fast
    assert len(fast) <= len(DOC) + MAX_WARNED


@pytest.mark.parametrize("context", [MappingProxyType({"country": "US"}), {"country": "US"}])
def test_a_constant_flag_with_any_mapping_context(context: Any) -> None:
    flags = Flags.from_dict(DOC)
    with flags.context(country="DE"):
        assert flags.is_enabled("on", context) is True
        assert flags.get_value("limit", 0, context) == 10
        assert flags.evaluate("limit", 0.0, context).value == 10.0  # an int for a float default
        assert flags.is_enabled("rule", context) is True


@pytest.mark.parametrize("ambient", [{}, {"country": "US"}])
def test_a_missed_key_with_a_non_mapping_context_is_not_found_as_before(ambient: dict[str, Any]) -> None:
    flags = Flags.from_dict(DOC)
    with flags.context(**ambient):
        for _ in range(2):  # the second time from the miss cache
            details = flags.evaluate("nope", 1, 42)  # type: ignore[arg-type]  # misuse: not a mapping
            assert details.error_code is ErrorCode.FLAG_NOT_FOUND


def test_a_pinned_snapshot_answers_from_its_own_tables() -> None:
    provider = ManualProvider()
    flags = Flags(provider)
    provider.publish({"a": True})
    assert flags.wait_ready(10)
    with flags.snapshot():
        assert flags.is_enabled("later") is False  # a miss cached in the pinned snapshot
        provider.publish({"a": False, "later": True})
        assert flags.is_enabled("a") is True
        assert flags.is_enabled("later") is False
    assert flags.is_enabled("a") is False
    assert flags.is_enabled("later") is True
    flags.close()
