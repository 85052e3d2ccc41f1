"""Storms of writes and writers that pause mid-write, with real writers and the real
watchdog observer. Loads are counted by a spy on the loader, never inferred from timing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from flagkit import FileProvider, Flags
from tests.helpers.faults import loader_spy
from tests.helpers.saves import wait_until, write_atomic_rename, write_in_place

pytestmark = pytest.mark.slow

SAVES = {"in_place": write_in_place, "atomic_rename": write_atomic_rename}


def doc(n: int, extra: str = "") -> str:
    return f"features:\n  n: {n}\n  b: true\n{extra}"


@pytest.mark.parametrize("style", sorted(SAVES))
def test_a_storm_of_100_writes_is_read_a_bounded_number_of_times(
    tmp_path: Path, style: str, monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(doc(-1))
    min_interval = 0.2
    provider = FileProvider(path, min_interval=min_interval)
    with Flags(provider) as flags:
        wait_until(lambda: flags.ready and provider._watcher.alive())  # the first use starts it
        loads = loader_spy(monkeypatch)
        save = SAVES[style]
        t0 = time.monotonic()
        for i in range(100):  # 100 writes within about a second
            save(path, doc(i))
            time.sleep(0.01)
        storm = time.monotonic() - t0
        wait_until(lambda: flags.get_value("n", -2) == 99)  # the last write wins
        reloads = len(loads.loaded)
        time.sleep(min_interval * 2)  # nothing is left to read
        assert len(loads.loaded) == reloads
    # The documented bound: the first change at once, then at most one read per
    # min_interval while the storm lasts, and one after it.
    assert 1 <= reloads <= 2 + storm / min_interval, (reloads, storm)


def test_a_writer_pausing_mid_write_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(doc(1))
    provider = FileProvider(path, poll_interval=0.2)
    with Flags(provider) as flags:
        wait_until(lambda: flags.ready and provider._watcher.alive())  # the first use starts it
        loads = loader_spy(monkeypatch)
        head = "features:\n  n: 2\n"  # valid YAML on its own, without flag b
        served_b: list[bool] = []
        with open(path, "w") as fh:  # truncate, write the head, pause 1 s, finish, close
            fh.write(head)
            fh.flush()
            pause_ends = time.monotonic() + 1.0
            while time.monotonic() < pause_ends:
                served_b.append(flags.is_enabled("b"))
                time.sleep(0.01)
            fh.write("  b: true\n")
        wait_until(lambda: flags.get_value("n", 0) == 2)
        assert flags.is_enabled("b")
    assert all(served_b)  # the flag never fell back to its default during the pause
    assert head.encode() not in loads  # the half-written file was never even parsed


def test_a_writer_that_keeps_the_file_open_is_read_after_write_timeout(
    tmp_path: Path, no_thread_leaks: None
) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(doc(1))
    provider = FileProvider(path, poll_interval=0.2, write_timeout=0.3)
    with Flags(provider) as flags:
        wait_until(lambda: flags.ready and provider._watcher.alive())  # the first use starts it
        release = threading.Event()
        with open(path, "w") as fh:
            fh.write(doc(2))
            fh.flush()
            # Never closed while we wait: read anyway once write_timeout has passed.
            wait_until(lambda: flags.get_value("n", 0) == 2)
            release.set()


def test_a_writer_pausing_mid_write_before_the_watch_is_in_place_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    """The write starts right after the client became ready, before its watcher runs (it
    starts at the first use): its modify event was never seen, and the watcher's first
    check must not take the file it finds changed for complete."""
    path = tmp_path / "features.yaml"
    path.write_text(doc(1))
    provider = FileProvider(path, poll_interval=0.2)  # write_timeout: 2 s, the default
    with Flags(provider) as flags:
        loads = loader_spy(monkeypatch)
        head = "features:\n  n: 2\n"  # valid YAML on its own, without flag b
        served_b: list[bool] = []
        with open(path, "w") as fh:  # truncate, write the head, pause 1 s, finish, close
            fh.write(head)
            fh.flush()
            pause_ends = time.monotonic() + 1.0
            while time.monotonic() < pause_ends:
                served_b.append(flags.is_enabled("b"))  # the first use starts the watcher
                time.sleep(0.01)
            assert provider._watcher.alive()  # it ran during the pause
            fh.write("  b: true\n")
        wait_until(lambda: flags.get_value("n", 0) == 2)
        assert flags.is_enabled("b")
    assert all(served_b)  # the flag never fell back to its default during the pause
    assert head.encode() not in loads  # the half-written file was never even parsed
