"""FileProvider: real files in a tmp dir, a real watchdog observer, real save styles."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import flagkit
from flagkit import ConfigError, FileProvider, Flags, FlagSet, SourceError
from tests.helpers.faults import faulty_loader
from tests.helpers.saves import (
    K8sConfigMap,
    wait_until,
    write_atomic_rename,
    write_in_place,
    write_sed_inplace,
    write_vim_style,
)

WATCHDOG_OWN_THREADS = frozenset({"InotifyFD-Dispatcher"})
"""Threads watchdog (>= 7) starts and names itself, inside its inotify reader thread."""


def doc(color: str, extra: str = "") -> str:
    return f"features:\n  color: {color}\n  checkout: true\n{extra}"


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    path = tmp_path / "features.yaml"
    path.write_text(doc("red"))
    return path


@pytest.fixture
def flags(flag_file: Path, no_thread_leaks: None) -> Iterator[Flags]:
    with Flags(FileProvider(flag_file, poll_interval=0.5)) as client:
        yield client


def color(flags: Flags) -> str:
    return flags.get_value("color", "")


def state(flags: Flags) -> str:
    (status,) = flags.status().values()
    return status.state


# --- start-up (no watcher) -------------------------------------------------------------


def test_reads_synchronously_at_start(flag_file: Path) -> None:
    with Flags.from_file(flag_file, watch=False) as flags:
        assert flags.ready
        assert color(flags) == "red"
        (status,) = flags.status().values()
        assert status.state == "ready"
        assert status.flags == 2
        assert status.version is not None


def test_json_file_by_extension(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text('{"features": {"color": "green"}}')
    with Flags.from_file(path, watch=False) as flags:
        assert color(flags) == "green"


def test_invalid_file_at_start_raises_config_error_with_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("features:\n  color: red\n  color: blue\n")
    with pytest.raises(ConfigError) as info:
        Flags.from_file(path)
    assert info.value.issues[0].line == 3
    assert str(path) in str(info.value)


def test_missing_file_at_start_is_an_error_not_ready(tmp_path: Path) -> None:
    path = tmp_path / "later.yaml"
    with Flags(FileProvider(path, watch=False)) as flags:
        assert not flags.wait_ready(0.05)
        (status,) = flags.status().values()
        assert status.state == "error"
        assert "does not exist" in (status.last_error or "")
        assert color(flags) == ""  # callers get their defaults
    with pytest.raises(SourceError):
        Flags.from_file(path)


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(doc("red") + "#" * 2000 + "\n")
    with Flags(FileProvider(path, watch=False, max_bytes=1000)) as flags:
        (status,) = flags.status().values()
        assert status.state == "error"
        assert "over the limit of 1,000" in (status.last_error or "")


def test_load_reads_without_reporting(flag_file: Path) -> None:
    provider = FileProvider(flag_file, watch=False)
    assert isinstance(provider.load(), FlagSet)
    assert provider.load().flags["color"].default_variant == "red"


def test_no_thread_without_watch(flag_file: Path) -> None:
    before = set(threading.enumerate())
    with Flags.from_file(flag_file, watch=False):
        assert {t.name for t in set(threading.enumerate()) - before} == set()


# --- hot reload: every way a file gets saved -------------------------------------------

SAVES: dict[str, Callable[[Path, str], None]] = {
    "in_place": write_in_place,
    "atomic_rename": write_atomic_rename,
    "vim": write_vim_style,
    "sed_i": lambda path, content: write_sed_inplace(path, "red", "blue"),
}


@pytest.mark.slow
@pytest.mark.parametrize("style", sorted(SAVES))
def test_picks_up_each_save_style(flags: Flags, flag_file: Path, style: str) -> None:
    changes: list[frozenset[str]] = []
    flags.on_change(changes.append)
    assert color(flags) == "red"
    SAVES[style](flag_file, doc("blue"))
    wait_until(lambda: color(flags) == "blue")
    assert flags.is_enabled("checkout")
    assert state(flags) == "ready"
    wait_until(lambda: frozenset({"color"}) in changes)


@pytest.mark.slow
def test_kubernetes_configmap_symlink_swap(tmp_path: Path, no_thread_leaks: None) -> None:
    volume = K8sConfigMap(tmp_path / "config", {"features.yaml": doc("red")})
    with Flags(FileProvider(volume.path("features.yaml"))) as flags:
        assert color(flags) == "red"
        volume.update({"features.yaml": doc("blue")})
        wait_until(lambda: color(flags) == "blue")
        volume.update({"features.yaml": doc("green")})
        wait_until(lambda: color(flags) == "green")
        assert state(flags) == "ready"


@pytest.mark.slow
def test_symlink_to_a_file_in_another_directory(tmp_path: Path, no_thread_leaks: None) -> None:
    real_dir, link_dir = tmp_path / "real", tmp_path / "app"
    real_dir.mkdir()
    link_dir.mkdir()
    target = real_dir / "features.yaml"
    target.write_text(doc("red"))
    (link_dir / "features.yaml").symlink_to(target)
    with Flags(FileProvider(link_dir / "features.yaml")) as flags:
        write_in_place(target, doc("blue"))
        wait_until(lambda: color(flags) == "blue")


@pytest.mark.slow
def test_missing_then_created(tmp_path: Path, no_thread_leaks: None) -> None:
    path = tmp_path / "features.yaml"
    with Flags(FileProvider(path)) as flags:
        assert state(flags) == "error"
        assert not flags.ready
        write_in_place(path, doc("blue"))
        assert flags.wait_ready(5)
        wait_until(lambda: color(flags) == "blue")
        assert state(flags) == "ready"


@pytest.mark.slow
def test_directory_created_later_is_found_by_polling(tmp_path: Path, no_thread_leaks: None) -> None:
    path = tmp_path / "not-yet" / "features.yaml"
    with Flags(FileProvider(path, poll_interval=0.05)) as flags:
        path.parent.mkdir()
        path.write_text(doc("blue"))
        assert flags.wait_ready(5)
        assert color(flags) == "blue"
        # Once the directory exists, the watcher takes over from the poll.
        provider = flags.providers[0]
        assert isinstance(provider, FileProvider)
        wait_until(lambda: provider._watcher.alive())


@pytest.mark.slow
def test_deleted_file_keeps_last_good_then_returns(flags: Flags, flag_file: Path) -> None:
    errors: list[BaseException] = []
    flags.on_error(lambda name, exc: errors.append(exc))
    flag_file.unlink()
    wait_until(lambda: state(flags) == "stale")
    assert color(flags) == "red"
    (status,) = flags.status().values()
    assert "deleted" in (status.last_error or "")
    assert flags.flush_listeners(5)
    assert len(errors) == 1
    assert isinstance(errors[0], SourceError)
    time.sleep(0.6)  # a poll tick passes: the deletion is not reported again
    assert len(errors) == 1
    flag_file.write_text(doc("red"))  # the same content returns: ready again, nothing changed
    wait_until(lambda: state(flags) == "ready")
    write_in_place(flag_file, doc("blue"))
    wait_until(lambda: color(flags) == "blue")


@pytest.mark.slow
def test_burst_of_100_writes_final_content_wins(flags: Flags, flag_file: Path) -> None:
    for i in range(100):
        write_in_place(flag_file, doc(f"v{i}"))
    wait_until(lambda: color(flags) == "v99")
    time.sleep(0.3)
    assert color(flags) == "v99"
    assert state(flags) == "ready"


@pytest.mark.slow
def test_invalid_yaml_then_fix(flags: Flags, flag_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    errors: list[BaseException] = []
    flags.on_error(lambda name, exc: errors.append(exc))
    with caplog.at_level(logging.ERROR, logger="flagkit"):
        write_in_place(flag_file, "features:\n  color: [blue\n")
        wait_until(lambda: state(flags) == "stale")
        assert color(flags) == "red"  # last good
        (status,) = flags.status().values()
        assert "invalid YAML" in (status.last_error or "")
        assert status.last_error is not None
        assert f"{flag_file}:" in status.last_error
        os.utime(flag_file)  # an event with the same bad content: not reported again
        time.sleep(0.6)
        assert flags.flush_listeners(5)
        assert len(errors) == 1
        assert isinstance(errors[0], ConfigError)
        assert sum("invalid YAML" in r.getMessage() for r in caplog.records) == 1
        write_in_place(flag_file, doc("blue"))
        wait_until(lambda: color(flags) == "blue")
        assert state(flags) == "ready"


@pytest.mark.slow
def test_schema_error_keeps_last_good(flags: Flags, flag_file: Path) -> None:
    write_atomic_rename(flag_file, "features:\n  color:\n    variants: 3\n")
    wait_until(lambda: state(flags) == "stale")
    assert color(flags) == "red"


@pytest.mark.slow
def test_emptied_file_keeps_last_good(flags: Flags, flag_file: Path) -> None:
    write_in_place(flag_file, "")
    wait_until(lambda: state(flags) == "stale")
    assert color(flags) == "red"
    (status,) = flags.status().values()
    assert "empty" in (status.last_error or "")


@pytest.mark.slow
def test_truncated_then_completed_write_is_not_an_error(
    flag_file: Path, monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    # A writer closes a half-written document, then writes the whole one: the close makes the
    # watcher read at once and find invalid YAML. Only the settle re-reads (4 x 0.3 s here)
    # keep that from being reported; without them this test fails.
    full = doc("blue", '  greeting: "hello world"\n')
    partial = full[: full.index('"') + 4]  # '...greeting: "hel' - an unterminated string
    with pytest.raises(ConfigError, match="invalid YAML"):
        FlagSet.from_bytes(partial, source=str(flag_file))
    provider = FileProvider(flag_file, poll_interval=0.5, settle=0.3)
    with Flags(provider) as flags:
        errors: list[BaseException] = []
        flags.on_error(lambda name, exc: errors.append(exc))
        loads = faulty_loader(monkeypatch, b"\0never", RuntimeError)  # a spy: raises for nothing
        wait_until(lambda: flags.ready and provider._watcher.alive())  # the first use starts it
        write_in_place(flag_file, partial)  # truncate, write half, close
        wait_until(lambda: partial.encode() in loads)  # the watcher has read the half document
        write_in_place(flag_file, full)  # within the settle window (1.2 s from that read)
        # Once the full document is served the settle loop is over: an error it was going
        # to report would have come first.
        wait_until(lambda: color(flags) == "blue")
        assert flags.flush_listeners(5)
        assert errors == []
        assert state(flags) == "ready"


@pytest.mark.slow
def test_same_content_is_not_reloaded(flags: Flags, flag_file: Path) -> None:
    (before,) = flags.status().values()
    changes: list[frozenset[str]] = []
    flags.on_change(changes.append)
    write_in_place(flag_file, doc("red"))
    write_atomic_rename(flag_file, doc("red"))
    os.utime(flag_file)
    time.sleep(0.6)
    (after,) = flags.status().values()
    assert after.last_success == before.last_success  # the content hash dropped the events
    assert changes == []


@pytest.mark.slow
def test_poll_takes_over_when_the_observer_dies(flag_file: Path, no_thread_leaks: None) -> None:
    provider = FileProvider(flag_file, poll_interval=0.1)
    with Flags(provider) as flags:
        wait_until(lambda: flags.ready and provider._watcher.alive())  # the first use starts it
        provider._watcher.stop()  # as if inotify died
        write_in_place(flag_file, doc("blue"))
        wait_until(lambda: color(flags) == "blue")
        wait_until(
            lambda: flags.ready and provider._watcher.alive()
        )  # the first use starts it  # and the observer is restarted


@pytest.mark.slow
def test_threads_are_named_daemons_and_close_is_bounded(flag_file: Path) -> None:
    before = set(threading.enumerate())
    flags = Flags(FileProvider(flag_file))
    provider = flags.providers[0]
    assert isinstance(provider, FileProvider)
    wait_until(lambda: flags.ready and provider._watcher.alive())  # the first use starts it
    started = set(threading.enumerate()) - before
    try:
        assert started
        for thread in started:
            # watchdog >= 7 starts one reader helper it names itself, inside its inotify thread
            assert thread.name.startswith("flagkit-") or thread.name in WATCHDOG_OWN_THREADS, thread.name
            assert thread.daemon
        assert any(t.name.startswith("flagkit-watch-") for t in started)
    finally:
        t0 = time.monotonic()
        flags.close()
    flags.close()  # idempotent
    assert time.monotonic() - t0 < 5  # bounded joins (1 s each), not a hang
    wait_until(lambda: not any(t.is_alive() for t in started))


@pytest.mark.slow
def test_idle_watcher_uses_almost_no_cpu(flags: Flags) -> None:
    provider = flags.providers[0]
    assert isinstance(provider, FileProvider)
    wait_until(lambda: flags.ready and provider._watcher.alive())  # the first use starts it
    time.sleep(0.2)
    # The provider's own threads (poll, observer, emitters, inotify reader), measured on their
    # own: threads other tests left behind cannot add to it.
    threads = [
        t for t in threading.enumerate() if t.name.startswith("flagkit-") or t.name in WATCHDOG_OWN_THREADS
    ]
    assert threads
    cpu = threads_cpu_seconds(threads)
    time.sleep(1.0)
    # Generous bound: a spinning watcher would use ~100 % of a core (1 s here).
    assert threads_cpu_seconds(threads) - cpu < 0.2


def threads_cpu_seconds(threads: list[threading.Thread]) -> float:
    """User + system CPU time of ``threads`` (Linux /proc), or of the process elsewhere."""
    if not os.path.isdir("/proc/self/task"):
        return time.process_time()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for thread in threads:
        try:
            with open(f"/proc/self/task/{thread.native_id}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread has ended
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


def test_provider_is_exported() -> None:
    assert flagkit.FileProvider is FileProvider


@pytest.mark.slow
def test_provider_can_start_again_after_stop(flag_file: Path, no_thread_leaks: None) -> None:
    provider = FileProvider(flag_file)
    with Flags(provider) as flags:
        assert color(flags) == "red"
    with Flags(provider) as flags:  # same content: still reported to the new client
        assert color(flags) == "red"
    write_in_place(flag_file, doc("blue"))
    with Flags(provider) as flags:
        assert color(flags) == "blue"
        write_atomic_rename(flag_file, doc("green"))
        wait_until(lambda: color(flags) == "green")


@pytest.mark.slow
def test_emptied_then_refilled_settles_without_an_error(flag_file: Path, no_thread_leaks: None) -> None:
    # settle 0.5 s: the re-reads of the empty file span 2 s, however loaded the machine is.
    with Flags(FileProvider(flag_file, poll_interval=0.5, settle=0.5)) as flags:
        errors: list[BaseException] = []
        flags.on_error(lambda name, exc: errors.append(exc))
        # `: > file; cat new >> file`: the first close leaves an empty file for a moment.
        with open(flag_file, "w"):
            pass
        time.sleep(0.03)
        with open(flag_file, "a") as fh:
            fh.write(doc("blue"))
        wait_until(lambda: color(flags) == "blue")  # the settle loop ended on good content
        assert flags.flush_listeners(5)
        assert errors == []
        assert state(flags) == "ready"


# --- empty documents -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("content", ["---\n", "# temporarily disabled\n", "null\n", "~\n"])
def test_empty_document_keeps_last_good(flag_file: Path, content: str, no_thread_leaks: None) -> None:
    settle = 0.1
    with Flags(FileProvider(flag_file, poll_interval=0.5, settle=settle)) as flags:
        errors: list[BaseException] = []
        flags.on_error(lambda name, exc: errors.append(exc))
        t0 = time.monotonic()
        write_in_place(flag_file, content)
        wait_until(lambda: state(flags) == "stale")
        # Re-read after each settle (it may be a write in progress) before it is an error.
        assert time.monotonic() - t0 >= 4 * settle
        assert color(flags) == "red"
        assert flags.is_enabled("checkout")
        (status,) = flags.status().values()
        assert "the document is empty" in (status.last_error or "")
        assert flags.flush_listeners(5)
        assert len(errors) == 1
        assert isinstance(errors[0], ConfigError)
        write_in_place(flag_file, doc("blue"))
        wait_until(lambda: color(flags) == "blue")
        assert state(flags) == "ready"


@pytest.mark.slow
@pytest.mark.parametrize("content", ["", "---\n"])
def test_missing_then_created_empty_is_not_ready(tmp_path: Path, content: str, no_thread_leaks: None) -> None:
    path = tmp_path / "features.yaml"
    with Flags(FileProvider(path, poll_interval=0.5, settle=0.02)) as flags:
        assert state(flags) == "error"
        write_in_place(path, content)
        wait_until(lambda: "empty" in (flags.status()[f"file:{path}"].last_error or ""))
        assert not flags.ready
        assert state(flags) == "error"
        write_in_place(path, doc("blue"))
        assert flags.wait_ready(5)
        assert color(flags) == "blue"


# --- stop and restart ------------------------------------------------------------------


def watcher_threads(path: Path) -> list[threading.Thread]:
    name = f"flagkit-file-{path.name}"
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


@pytest.mark.slow
def test_restart_waits_for_a_watcher_that_outlived_stop(flag_file: Path, no_thread_leaks: None) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_report(result: FlagSet | BaseException) -> None:
        if threading.current_thread().name.startswith("flagkit-file-"):
            entered.set()
            release.wait(10)  # e.g. a slow on_change listener: stop() cannot interrupt it

    provider = FileProvider(flag_file, poll_interval=0.1)
    provider.start(slow_report)
    write_in_place(flag_file, doc("blue"))
    assert entered.wait(5)  # the watcher thread is stuck reporting "blue"
    (old,) = watcher_threads(flag_file)
    provider.stop()  # gives up after its 1 s join
    assert old.is_alive()
    fresh: list[FlagSet | BaseException] = []
    provider.start(fresh.append)  # reads synchronously; not held up by the old thread...
    assert old.is_alive()  # ...which is still stuck (until release): start() did not wait
    (first,) = fresh
    assert isinstance(first, FlagSet)
    assert first.flags["color"].default_variant == "blue"
    release.set()
    wait_until(lambda: not old.is_alive())  # its own stop event is set: it ends
    write_atomic_rename(flag_file, doc("green"))
    wait_until(
        lambda: any(isinstance(r, FlagSet) and r.flags["color"].default_variant == "green" for r in fresh)
    )
    assert len(watcher_threads(flag_file)) == 1
    provider.stop()
    assert watcher_threads(flag_file) == []
