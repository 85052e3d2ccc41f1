"""Listener delivery is off the reload path: one dispatcher thread, a bounded queue,
coalesced change sets. Real files and the real watchdog observer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flagkit import FileProvider, Flags, FlagSet
from flagkit._dispatch import Dispatcher
from flagkit.providers.base import Provider, Report
from tests.helpers.saves import wait_until, write_atomic_rename


def doc(**values: str) -> str:
    return "features:\n" + "".join(f"  {key}: {value}\n" for key, value in values.items())


class ManualProvider(Provider):
    """Reports on the caller's thread, so a test controls exactly when reloads happen."""

    def __init__(self) -> None:
        super().__init__("manual")
        self.report: Report | None = None

    def start(self, report: Report) -> None:
        self.report = report
        report(FlagSet.from_dict({"a": 0}))

    def publish(self, values: dict[str, object]) -> None:
        assert self.report is not None
        self.report(FlagSet.from_dict(values))


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    path = tmp_path / "features.yaml"
    path.write_text(doc(a="0"))
    return path


@pytest.mark.slow
def test_a_slow_listener_does_not_delay_the_next_reload(flag_file: Path, no_thread_leaks: None) -> None:
    entered, release, left = threading.Event(), threading.Event(), threading.Event()
    seen: list[frozenset[str]] = []

    def slow(keys: frozenset[str]) -> None:
        seen.append(keys)
        entered.set()
        release.wait(30)  # slow: it returns only when the test says so
        left.set()

    with Flags(FileProvider(flag_file, poll_interval=0.2)) as flags:
        flags.on_change(slow)
        write_atomic_rename(flag_file, doc(a="1"))
        assert entered.wait(5)  # the listener is running now, and goes on...
        write_atomic_rename(flag_file, doc(a="2", b="1"))
        wait_until(lambda: flags.get_value("a", 0) == 2)  # ...yet the reload lands
        write_atomic_rename(flag_file, doc(a="3", b="1", c="1"))
        wait_until(lambda: flags.get_value("c", 0) == 1)
        assert not left.is_set()  # both reloads were published while the listener ran
        assert len(seen) == 1
        release.set()
        assert flags.flush_listeners(5)
    # The two changes made during the slow call arrive as one call with the union of keys.
    assert seen == [frozenset({"a"}), frozenset({"a", "b", "c"})]


def test_listeners_run_on_one_dispatcher_thread_in_order() -> None:
    provider = ManualProvider()
    flags = Flags(provider)
    calls: list[tuple[str, str]] = []
    flags.on_change(lambda keys: calls.append((threading.current_thread().name, ",".join(sorted(keys)))))
    flags.on_error(lambda name, exc: calls.append((threading.current_thread().name, str(exc))))
    gate = threading.Event()
    flags.on_change(lambda keys: gate.wait(5))
    provider.publish({"a": 1})  # delivered; the second listener blocks the dispatcher
    wait_until(lambda: calls)
    provider.publish({"a": 2, "b": 1})
    provider.publish({"a": 2, "b": 2, "c": 1})  # merged with the previous (consecutive)
    assert provider.report is not None
    provider.report(RuntimeError("boom"))  # errors are never merged
    provider.publish({"a": 3, "b": 2, "c": 1})
    gate.set()
    assert flags.flush_listeners(5)
    assert calls == [
        ("flagkit-dispatch", "a"),
        ("flagkit-dispatch", "a,b,c"),
        ("flagkit-dispatch", "boom"),
        ("flagkit-dispatch", "a"),
    ]
    flags.close()


def test_a_raising_listener_is_logged_and_dispatch_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    provider = ManualProvider()
    flags = Flags(provider)
    seen: list[frozenset[str]] = []

    def bad(keys: frozenset[str]) -> None:
        raise SystemExit(1)

    flags.on_change(bad)
    flags.on_change(seen.append)
    with caplog.at_level(logging.ERROR, logger="flagkit"):
        provider.publish({"a": 1})
        assert flags.flush_listeners(5)
        provider.publish({"a": 2})
        assert flags.flush_listeners(5)
    assert seen == [frozenset({"a"}), frozenset({"a"})]
    assert sum("on_change listener failed" in r.getMessage() for r in caplog.records) == 2
    flags.close()


def test_close_drains_the_queue_then_ends_the_thread() -> None:
    provider = ManualProvider()
    flags = Flags(provider)
    seen: list[frozenset[str]] = []
    gate = threading.Event()

    def slow(keys: frozenset[str]) -> None:
        gate.wait(0.2)
        seen.append(keys)

    flags.on_change(slow)
    provider.publish({"a": 1})
    provider.publish({"a": 1, "b": 1})
    flags.close()  # delivers what is queued (bounded), then stops
    assert seen
    assert set().union(*seen) == {"a", "b"}
    wait_until(lambda: not any(t.name == "flagkit-dispatch" for t in threading.enumerate()))


def test_close_is_bounded_when_a_listener_is_stuck() -> None:
    provider = ManualProvider()
    flags = Flags(provider)
    release = threading.Event()
    flags.on_change(lambda keys: release.wait(10))
    provider.publish({"a": 1})
    provider.publish({"a": 2, "b": 1})
    t0 = time.monotonic()
    flags.close()
    assert time.monotonic() - t0 < 5.0  # bounded (1 s flush), never the 10 s the listener holds
    release.set()
    wait_until(lambda: not any(t.name == "flagkit-dispatch" for t in threading.enumerate()))


class _Sink:
    def __init__(self) -> None:
        self.gate = threading.Event()
        self.errors: list[str] = []
        self.changes: list[frozenset[str]] = []

    def _deliver_change(self, keys: frozenset[str]) -> None:
        self.gate.wait(5)
        self.changes.append(keys)

    def _deliver_error(self, name: str, error: BaseException) -> None:
        self.errors.append(str(error))

    def _tick(self) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[_Sink]:
    sink = _Sink()
    yield sink
    sink.gate.set()


def test_the_queue_is_bounded_and_changes_are_never_lost(sink: _Sink) -> None:
    dispatcher = Dispatcher(sink, limit=10)
    dispatcher.put_change(frozenset({"first"}))
    wait_until(lambda: dispatcher._busy)  # the dispatcher is stuck in the first call
    for i in range(1000):
        dispatcher.put_error("p", RuntimeError(f"e{i}"))
        dispatcher.put_change(frozenset({f"k{i}"}))
    assert len(dispatcher._queue) <= 2 * 10 + 1  # bounded whatever the producers do
    assert dispatcher.dropped == 990
    sink.gate.set()
    assert dispatcher.flush(5)
    delivered = set().union(*sink.changes)
    assert delivered == {"first"} | {f"k{i}" for i in range(1000)}  # every key, coalesced
    assert sink.errors == [f"e{i}" for i in range(990, 1000)]  # the newest errors
    dispatcher.close()
