"""flagkit._workers.Worker: the one primitive behind every background thread, and the promise it
exists for: a client dropped without close() leaves no thread running."""

from __future__ import annotations

import gc
import logging
import os
import threading
import weakref
from pathlib import Path

import pytest

from flagkit import Flags
from flagkit._workers import UNTIL_WOKEN, Worker
from flagkit.providers import FileProvider, HttpProvider
from tests.helpers.flag_server import FlagServer
from tests.helpers.fork import ask_child
from tests.helpers.saves import wait_until


class Owner:
    """Something a worker works for; counts the steps run on it."""

    def __init__(self) -> None:
        self.steps = 0
        self.stepped = threading.Event()

    def step(self) -> float | None:
        self.steps += 1
        self.stepped.set()
        return UNTIL_WOKEN


def _step(owner: Owner) -> float | None:
    return owner.step()


def test_a_worker_is_a_named_daemon_thread_that_steps_when_woken_and_stops_within_its_bound() -> None:
    owner = Owner()
    worker = Worker("flagkit-test-a", _step, owner)
    assert not worker.started
    assert not worker.alive
    assert worker.start()
    assert not worker.start()  # idempotent
    thread = worker.thread
    assert thread is not None
    assert thread.daemon
    assert thread.name == "flagkit-test-a"
    wait_until(lambda: owner.steps == 1, timeout=30)
    worker.wake()
    wait_until(lambda: owner.steps == 2, timeout=30)
    assert worker.stop(timeout=30)
    assert not thread.is_alive()
    assert worker.stop(timeout=30)  # idempotent
    assert not worker.start()  # a stopped worker stays stopped
    assert not worker.alive


def test_a_step_returning_none_ends_the_thread() -> None:
    owner = Owner()
    worker = Worker("flagkit-test-once", lambda o: None, owner)
    worker.start()
    wait_until(lambda: not worker.alive, timeout=30)
    assert worker.failure is None


def test_a_step_waits_the_seconds_it_returns() -> None:
    owner = Owner()
    seen: list[int] = []

    def step(o: Owner) -> float:
        seen.append(o.steps)
        o.steps += 1
        return 0.001

    worker = Worker("flagkit-test-period", step, owner)
    worker.start()
    wait_until(lambda: len(seen) >= 5, timeout=30)  # no wake needed
    assert worker.stop(timeout=30)


def test_the_worker_holds_its_owner_weakly_and_ends_when_it_is_collected() -> None:
    owner = Owner()
    ref = weakref.ref(owner)
    worker = Worker("flagkit-test-weak", _step, owner)
    worker.start()
    owner.stepped.wait(30)
    del owner
    gc.collect()
    assert ref() is None  # the running worker did not keep it alive
    wait_until(lambda: not worker.alive, timeout=30)
    assert worker.stopping.is_set()


def test_an_exception_in_a_step_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    owner = Owner()
    calls: list[int] = []

    def step(o: Owner) -> float | None:
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError("boom")
        o.stepped.set()
        return UNTIL_WOKEN

    with caplog.at_level(logging.ERROR, logger="flagkit"):
        worker = Worker("flagkit-test-errors", step, owner)
        worker.start()
        assert owner.stepped.wait(30)
    assert worker.errors == 2
    assert worker.alive
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("flagkit: flagkit-test-errors failed; it goes on in 0.05s") == 1
    assert messages.count("flagkit: flagkit-test-errors failed; it goes on in 0.1s") == 1
    assert all(r.exc_info is not None for r in caplog.records)
    assert worker.stop(timeout=30)


def test_a_base_exception_ends_the_thread_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    owner = Owner()

    def step(o: Owner) -> float | None:
        raise SystemExit("user code called sys.exit")

    with caplog.at_level(logging.CRITICAL, logger="flagkit"):
        worker = Worker("flagkit-test-exit", step, owner)
        worker.start()
        wait_until(lambda: not worker.alive, timeout=30)
    assert worker.failure == "SystemExit: user code called sys.exit"
    assert "flagkit-test-exit died" in caplog.text


def test_stop_from_the_workers_own_thread_does_not_deadlock() -> None:
    owner = Owner()
    answers: list[bool] = []
    box: list[Worker[Owner]] = []

    def step(o: Owner) -> float | None:
        answers.append(box[0].stop(timeout=30))
        return UNTIL_WOKEN

    worker = Worker("flagkit-test-self", step, owner)
    box.append(worker)
    worker.start()
    wait_until(lambda: not worker.alive, timeout=30)
    assert answers == [False]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_in_a_fork_child_a_worker_is_not_started_until_used_and_a_stopped_one_stays_stopped() -> None:
    owner = Owner()
    running = Worker("flagkit-test-fork", _step, owner)
    running.start()
    owner.stepped.wait(30)
    stopped = Worker("flagkit-test-fork-stopped", _step, owner)
    stopped.start()
    stopped.stop(timeout=30)

    def child(send: object) -> None:
        assert callable(send)
        before = (running.started, running.alive, stopped.started)
        restarted = running.start()
        wait_until(lambda: owner.steps >= 2, timeout=30)  # the child's own thread steps
        send(
            {
                "before": list(before),
                "restarted": restarted,
                "alive": running.alive,
                "stopped_restarts": stopped.start(),
                "names": sorted(t.name for t in threading.enumerate() if t.name.startswith("flagkit-test-f")),
            }
        )

    reply = ask_child(child)
    assert reply == {
        "before": [False, False, False],
        "restarted": True,
        "alive": True,
        "stopped_restarts": False,
        "names": ["flagkit-test-fork"],
    }
    assert running.alive  # the parent's own thread is untouched
    running.stop(timeout=30)


# --- the promise: a client dropped without close() ends all its threads -------------------------


def _flagkit_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("flagkit-")}


@pytest.mark.slow
def test_a_client_dropped_without_close_ends_every_thread_it_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # issue 19: provider threads (file watcher and poller, HTTP poller) held their provider and
    # lived on after their client was collected; usage and exposure threads needed a finalizer.
    path = tmp_path / "flags.yaml"
    path.write_text("features:\n  beta:\n    track: true\n    rules: [{serve: 'on'}]\n")
    before = _flagkit_threads()
    with FlagServer("features:\n  remote: true\n") as server:
        flags = Flags(
            FileProvider(path, poll_interval=0.2),
            HttpProvider(server.url(), interval=0.2),
            usage=True,
        )
        flags.on_exposure(lambda exposure: None)
        flags.on_change(lambda keys: None)
        flags.on_error(lambda name, error: None)
        flags.on_recover(lambda name: None)
        assert flags.wait_ready(30)
        assert flags.is_enabled("beta", {"user_id": "u1"})
        assert flags.flush_exposures(30)
        expected = [
            "flagkit-usage",
            "flagkit-exposures",
            "flagkit-dispatch",
            "flagkit-listener",
            "flagkit-file-flags.yaml",
            f"flagkit-http-{server.url()}",
            "flagkit-watch-flags.yaml",  # set up by the file thread after the first read
        ]

        def missing() -> list[str]:
            names = [t.name for t in _flagkit_threads() - before]
            gone = [e for e in expected if not any(name.startswith(e) for name in names)]
            if gone == ["flagkit-watch-flags.yaml"] and "cannot watch" in caplog.text:
                return []  # the kernel refused a watch (inotify instances are per user, shared by
                # every process of the machine): the provider polls, with no watch thread to end
            return gone

        with caplog.at_level(logging.WARNING, logger="flagkit"):
            try:
                wait_until(lambda: not missing(), timeout=30)
            except AssertionError:
                raise AssertionError(f"threads never started: {missing()}") from None
        started = _flagkit_threads() - before
        ref = weakref.ref(flags)
        del flags
        # A thread may be in the middle of a call on the client (a report, a tick): collect again
        # until it is gone, then every thread it started must end.
        wait_until(lambda: gc.collect() >= 0 and ref() is None, timeout=60, interval=0.05)
        wait_until(lambda: not any(t.is_alive() for t in started), timeout=60)


@pytest.mark.slow
def test_many_dropped_clients_leave_no_thread(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text("features:\n  beta: true\n")
    before = _flagkit_threads()
    for _ in range(10):
        flags = Flags(FileProvider(path, poll_interval=0.2), usage=True)
        flags.on_change(lambda keys: None)
        flags.is_enabled("beta")
        del flags
    gc.collect()
    wait_until(lambda: not any(t.is_alive() for t in _flagkit_threads() - before), timeout=60)
