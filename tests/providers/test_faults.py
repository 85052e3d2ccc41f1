"""No exception ends a provider's thread; a thread that dies anyway is reported and restarted.

Faults are injected for real: the loader raises inside a running FileProvider/HttpProvider,
listeners raise, the watchdog callback raises, and threads are hit by asynchronous
exceptions (``SystemExit`` kills one) while they run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flagkit import FileProvider, Flags, HttpProvider
from flagkit.providers import _watch
from flagkit.providers._fetch import StdlibTransport
from tests.helpers.faults import faulty_loader, thread_named
from tests.helpers.flag_server import FlagServer
from tests.helpers.saves import wait_until, write_atomic_rename, write_in_place

pytestmark = pytest.mark.slow

FAULTS: dict[str, Callable[[], BaseException]] = {
    "RecursionError": lambda: RecursionError("maximum recursion depth exceeded"),
    "ValueError": lambda: ValueError("Exceeds the limit (4300 digits) for integer string conversion"),
    "OverflowError": lambda: OverflowError("cannot convert float infinity to integer"),
    "MemoryError": MemoryError,
    "KeyError": lambda: KeyError("x"),
    "UnicodeDecodeError": lambda: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
}


def doc(color: str, extra: str = "") -> str:
    return f"features:\n  color: {color}\n  checkout: true\n{extra}"


def only(flags: Flags) -> Any:
    (status,) = flags.status().values()
    return status


def color(flags: Flags) -> str:
    return flags.get_value("color", "")


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    path = tmp_path / "features.yaml"
    path.write_text(doc("red"))
    return path


@pytest.fixture
def server() -> Iterator[FlagServer]:
    with FlagServer(doc("red")) as srv:
        yield srv


def fast_http(url: str, **options: Any) -> HttpProvider:
    options.setdefault("interval", 0.05)
    options.setdefault("backoff", (0.05, 0.2))
    return HttpProvider(url, **options)


# --- the loader raises anything --------------------------------------------------------


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_file_watcher_survives_any_loader_exception(
    flag_file: Path, monkeypatch: pytest.MonkeyPatch, fault: str, no_thread_leaks: None
) -> None:
    with Flags(FileProvider(flag_file, poll_interval=0.2)) as flags:
        assert flags.wait_ready(5)  # the first use starts the threads
        thread = thread_named("flagkit-file-")
        faulty_loader(monkeypatch, b"boom", FAULTS[fault])
        write_in_place(flag_file, doc("blue", "  boom: true\n"))
        wait_until(lambda: only(flags).state == "stale")
        assert color(flags) == "red"  # last good
        assert fault in only(flags).last_error
        assert str(flag_file) in only(flags).last_error  # a ConfigError with the location
        assert thread.is_alive()
        write_atomic_rename(flag_file, doc("green"))  # still watching
        wait_until(lambda: color(flags) == "green")
        assert only(flags).state == "ready"
        assert thread.is_alive()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_http_poller_survives_any_loader_exception(
    server: FlagServer, monkeypatch: pytest.MonkeyPatch, fault: str, no_thread_leaks: None
) -> None:
    with Flags(fast_http(server.url())) as flags:
        assert flags.wait_ready(5)
        thread = thread_named("flagkit-http-http")
        faulty_loader(monkeypatch, b"boom", FAULTS[fault])
        server.set_body(doc("blue", "  boom: true\n"))
        wait_until(lambda: only(flags).state == "stale")
        assert color(flags) == "red"
        assert fault in only(flags).last_error
        assert thread.is_alive()
        server.set_body(doc("green"))
        wait_until(lambda: color(flags) == "green")
        assert only(flags).state == "ready"
        assert thread.is_alive()


def test_http_poller_survives_a_fetch_that_raises_anything(
    server: FlagServer, monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    original = StdlibTransport.fetch
    raised: list[str] = []

    def get(self: StdlibTransport, request: Any) -> Any:
        if len(raised) < 3:
            raised.append("x")
            raise RecursionError("maximum recursion depth exceeded")
        return original(self, request)

    with Flags(fast_http(server.url())) as flags:
        assert flags.wait_ready(5)
        monkeypatch.setattr(StdlibTransport, "fetch", get)
        wait_until(lambda: len(raised) == 3)
        server.set_body(doc("blue"))
        wait_until(lambda: color(flags) == "blue")
        assert only(flags).state == "ready"
        assert only(flags).error_count >= 3


# --- listeners and watchdog callbacks raise ----------------------------------------------


def test_raising_listeners_do_not_stop_reloads(flag_file: Path, no_thread_leaks: None) -> None:
    with Flags(FileProvider(flag_file, poll_interval=0.2)) as flags:

        def bad_change(keys: frozenset[str]) -> None:
            raise RecursionError("listener bug")

        def bad_error(name: str, exc: BaseException) -> None:
            raise SystemExit(3)  # even this: the listener runs on the dispatcher, which goes on

        flags.on_change(bad_change)
        flags.on_error(bad_error)
        for value in ("blue", "[broken", "green", "[broken again", "yellow"):
            write_atomic_rename(flag_file, doc(value))
            if value.startswith("["):
                wait_until(lambda: only(flags).state == "stale")
            else:
                wait_until(lambda v=value: color(flags) == v)  # type: ignore[misc]
        thread_named("flagkit-file-")


def test_a_raising_watchdog_callback_does_not_stop_the_observer(
    flag_file: Path, monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    def broken(path: bytes | str) -> str:
        raise ValueError("cannot decode")

    provider = FileProvider(flag_file, poll_interval=30)  # no poll: only events can reload
    with Flags(provider) as flags:
        wait_until(lambda: flags.ready and provider._watcher.alive())  # the first use starts it
        monkeypatch.setattr(_watch, "_text", broken)
        write_atomic_rename(flag_file, doc("blue"))
        wait_until(lambda: color(flags) == "blue")  # an unclassifiable event still reads
        write_in_place(flag_file, doc("green"))
        wait_until(lambda: color(flags) == "green")
        assert provider._watcher.alive()


# --- the thread itself is hit -----------------------------------------------------------
# Faults are raised from a step each loop runs between reads or fetches (the file watcher
# checks its observer on each idle tick, the poller computes its next delay), so they hit
# the thread at a known point, and each step of the loop is hit in turn (STEPS).


def fail_in_loop(
    monkeypatch: pytest.MonkeyPatch, provider: FileProvider | HttpProvider, exc: type[BaseException]
) -> list[int]:
    """Make the provider's loop raise ``exc`` once, from the step it runs between rounds."""
    name = "_ensure_watching" if isinstance(provider, FileProvider) else "_next_delay"
    return fail_at(monkeypatch, provider, name, exc)


def fail_at(
    monkeypatch: pytest.MonkeyPatch,
    provider: FileProvider | HttpProvider,
    step: str,
    exc: type[BaseException],
) -> list[int]:
    """Make ``provider``'s ``step`` raise ``exc`` the first time it runs."""
    hits: list[int] = []
    original = getattr(provider, step)

    def failing(*args: Any, **kwargs: Any) -> Any:
        if not hits:
            hits.append(1)
            raise exc("injected")
        return original(*args, **kwargs)

    monkeypatch.setattr(provider, step, failing)
    return hits


def test_an_exception_in_the_watcher_loop_is_reported_and_the_loop_goes_on(
    flag_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, no_thread_leaks: None
) -> None:
    provider = FileProvider(flag_file, poll_interval=0.1)
    with caplog.at_level(logging.ERROR, logger="flagkit"), Flags(provider) as flags:
        assert flags.wait_ready(5)  # the first use starts the threads
        thread = thread_named("flagkit-file-")
        hits = fail_in_loop(monkeypatch, provider, RuntimeError)
        wait_until(lambda: hits)
        wait_until(lambda: any("RuntimeError: injected" in r.getMessage() for r in caplog.records))
        wait_until(lambda: only(flags).state == "ready")  # reported, then re-read: good again
        assert only(flags).error_count >= 1
        assert thread.is_alive()
        write_in_place(flag_file, doc("blue"))
        wait_until(lambda: color(flags) == "blue")


STEPS = ["_collect_events", "_ensure_watching", "_check", "_locked_check"]
"""The watcher loop's steps: waiting for events, checking the observer, reading, reporting."""


@pytest.mark.parametrize("exc", [RuntimeError, SystemExit], ids=["error", "thread-ending"])
@pytest.mark.parametrize("step", STEPS)
def test_an_exception_at_any_step_of_the_watcher_is_survived(
    step: str,
    exc: type[BaseException],
    flag_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_thread_leaks: None,
) -> None:
    provider = FileProvider(flag_file, poll_interval=0.05)
    with Flags(provider) as flags:
        assert flags.wait_ready(5)
        wait_until(
            lambda: flags.ready and provider._watcher.alive()
        )  # the first use starts it  # events flow: the waiting step runs too
        hits = fail_at(monkeypatch, provider, step, exc)
        write_in_place(flag_file, doc("green"))  # wakes every step of the loop
        wait_until(lambda: hits)
        # An Exception is caught where it is raised and reported; a SystemExit ends the
        # thread, which the client notices (status() runs the check) and restarts.
        wait_until(lambda: only(flags).state == "ready" and provider.failure() is None)
        thread_named("flagkit-file-")
        write_atomic_rename(flag_file, doc("blue"))
        wait_until(lambda: color(flags) == "blue")


@pytest.mark.parametrize("kind", ["file", "http"])
def test_a_thread_that_dies_is_reported_and_restarted(
    kind: str,
    flag_file: Path,
    server: FlagServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    no_thread_leaks: None,
) -> None:
    provider = FileProvider(flag_file, poll_interval=0.1) if kind == "file" else fast_http(server.url())
    errors: list[BaseException] = []
    with caplog.at_level(logging.ERROR, logger="flagkit"), Flags(provider) as flags:
        assert flags.wait_ready(5)
        flags.on_error(lambda name, exc: errors.append(exc))
        thread = thread_named(f"flagkit-{kind}-" + ("http" if kind == "http" else ""))
        fail_in_loop(monkeypatch, provider, SystemExit)  # SystemExit ends a thread
        wait_until(lambda: not thread.is_alive())
        assert provider.failure() == "SystemExit: injected"
        assert color(flags) == "red"  # the snapshot is untouched
        status = only(flags)  # notices the dead thread, says so, restarts it
        assert status.state == "error"
        assert "thread died (SystemExit: injected)" in status.last_error
        assert status.restarts == 1
        assert any("died" in r.getMessage() for r in caplog.records)
        wait_until(lambda: only(flags).state == "ready")
        assert only(flags).restarts == 1
        assert provider.failure() is None
        restarted = thread_named(f"flagkit-{kind}-" + ("http" if kind == "http" else ""))
        assert restarted is not thread
        if kind == "file":
            write_in_place(flag_file, doc("blue"))
        else:
            server.set_body(doc("blue"))
        wait_until(lambda: color(flags) == "blue")  # watching / polling again
        assert flags.flush_listeners(5)
        assert any("thread died" in str(e) for e in errors)


def test_a_dead_thread_is_found_by_context_without_status(
    flag_file: Path, monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    provider = FileProvider(flag_file, poll_interval=0.1)
    with Flags(provider) as flags:
        assert flags.wait_ready(5)  # the first use starts the threads
        thread = thread_named("flagkit-file-")
        fail_in_loop(monkeypatch, provider, SystemExit)
        wait_until(lambda: not thread.is_alive())

        def restarted() -> bool:
            with flags.context(user="x"):  # what middleware calls on every request
                pass
            return provider.failure() is None

        wait_until(restarted)
        write_in_place(flag_file, doc("blue"))
        wait_until(lambda: color(flags) == "blue")
