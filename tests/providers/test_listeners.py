"""Listener delivery is off the reload path: a dispatcher thread and a lane (thread, bounded
queue, coalesced change sets) per listener. Real files and the real watchdog observer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flagkit import FileProvider, Flags, FlagSet
from flagkit._client.listeners import Dispatcher
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


def test_each_listener_runs_on_its_own_thread_in_order() -> None:
    provider = ManualProvider()
    flags = Flags(provider)
    changes: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    gate = threading.Event()

    def recording(keys: frozenset[str]) -> None:
        changes.append((threading.current_thread().name, ",".join(sorted(keys))))
        gate.wait(5)  # blocks this listener's own lane only

    flags.on_change(recording)
    flags.on_error(lambda name, exc: errors.append((threading.current_thread().name, str(exc))))
    provider.publish({"a": 1})  # delivered; the listener now blocks
    wait_until(lambda: changes)
    provider.publish({"a": 2, "b": 1})
    provider.publish({"a": 2, "b": 2, "c": 1})  # merged with the previous (consecutive)
    assert provider.report is not None
    provider.report(RuntimeError("boom"))
    wait_until(lambda: errors)  # the error listener is not held up by the blocked one
    provider.publish({"a": 3, "b": 2, "c": 1})  # merged too: this lane sees changes only
    gate.set()
    assert flags.flush_listeners(5)
    assert changes == [("flagkit-listener", "a"), ("flagkit-listener", "a,b,c")]
    assert errors == [("flagkit-listener", "boom")]
    flags.close()


def test_a_slow_listener_does_not_delay_another() -> None:
    # One dispatcher thread ran every listener in turn: a listener taking 3 s delayed every
    # other one by 3 s. Each now has its own thread: the other is called while the slow one
    # is still inside its call.
    provider = ManualProvider()
    inside, release, left = threading.Event(), threading.Event(), threading.Event()
    fast_got = threading.Event()

    def slow(keys: frozenset[str]) -> None:
        inside.set()
        release.wait(3)  # a 3 s listener, unless the test lets it go early
        left.set()

    with Flags(provider) as flags:
        flags.on_change(slow)
        flags.on_change(lambda keys: fast_got.set())
        provider.publish({"a": 1})
        assert inside.wait(10)
        assert fast_got.wait(10)
        assert not left.is_set()  # the fast listener ran while the slow one was still inside
        release.set()
        assert flags.flush_listeners(10)


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
    wait_until(
        lambda: (
            not any(
                t.name.startswith(("flagkit-dispatch", "flagkit-listener")) for t in threading.enumerate()
            )
        )
    )


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
    wait_until(
        lambda: (
            not any(
                t.name.startswith(("flagkit-dispatch", "flagkit-listener")) for t in threading.enumerate()
            )
        )
    )


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


def test_events_dropped_at_close_are_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    # close() gave up on a stuck listener's waiting events without a word.
    provider = ManualProvider()
    flags = Flags(provider)
    inside, release = threading.Event(), threading.Event()

    def stuck(keys: frozenset[str]) -> None:
        inside.set()
        release.wait(30)

    flags.on_change(stuck)
    provider.publish({"a": 1})
    assert inside.wait(10)
    provider.publish({"a": 2, "b": 1})  # waits behind the stuck call
    with caplog.at_level(logging.WARNING, logger="flagkit"):
        flags.close()
    release.set()
    (lane,) = flags._lanes._changes
    assert lane.dispatcher.dropped_at_close == 1
    (message,) = [r.getMessage() for r in caplog.records if "not delivered at close" in r.getMessage()]
    assert message.startswith("flagkit: 1 listener events not delivered at close (flagkit-listener")


def _listener_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "flagkit-listener" and t.is_alive())


def test_clients_created_and_closed_in_a_loop_leave_no_listener_thread() -> None:
    # issue 17: a listener added after close() (or racing it) started a lane thread that
    # nothing would ever end: 2 threads leaked per cycle.
    before = _listener_threads()
    calls: list[frozenset[str]] = []
    for i in range(200):
        flags = Flags.from_dict({"features": {"x": True}})
        flags.on_change(calls.append)
        if i % 2:
            flags.on_error(lambda name, error: None)
        closer = threading.Thread(target=flags.close)
        closer.start()
        flags.on_change(calls.append)  # racing close()
        closer.join()
        flags.on_change(calls.append)  # after close()
        flags.on_error(lambda name, error: None)
    wait_until(lambda: _listener_threads() <= before, timeout=30)


def test_a_client_dropped_without_close_leaves_no_listener_thread() -> None:
    # issue 17: each listener's lane noticed its client was gone only at its 60 s idle tick,
    # so clients dropped without close() kept a thread per listener for up to a minute.
    import gc

    before = _listener_threads()
    for _ in range(30):
        flags = Flags.from_dict({"features": {"x": True}})
        flags.on_change(lambda keys: None)
        flags.on_error(lambda name, error: None)
        del flags
    gc.collect()
    wait_until(lambda: _listener_threads() <= before, timeout=30)
