"""No thread of flagkit's runs before the client's first use in a process (see
docs/providers.md, "Fork safety"): construction reads what it can at once, the first use
starts the threads, and afterwards evaluation runs the plain resolvers (no cost added)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from flagkit import FileProvider, Flags
from tests.helpers.saves import wait_until, write_atomic_rename

pytestmark = pytest.mark.slow


def flagkit_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("flagkit-") and t.is_alive())


def enter_context(flags: Flags) -> None:
    with flags.context(user="u"):  # what middleware does on every request
        pass


USES: dict[str, Callable[[Flags], object]] = {
    "is_enabled": lambda flags: flags.is_enabled("a"),
    "unknown key": lambda flags: flags.get_value("nope", 0),
    "wait_ready": lambda flags: flags.wait_ready(5),
    "ready": lambda flags: flags.ready,
    "status": lambda flags: flags.status(),
    "context": enter_context,
    "all_values": lambda flags: flags.all_values(),
    "on_change": lambda flags: flags.on_change(lambda keys: None),
}


@pytest.mark.parametrize("use", sorted(USES))
def test_threads_start_at_the_first_use(tmp_path: Path, use: str, no_thread_leaks: None) -> None:
    path = tmp_path / "features.yaml"
    path.write_text("features:\n  a: true\n")
    with Flags(FileProvider(path), usage=True) as flags:
        flags.on_exposure(lambda exposure: None)  # its thread waits for the first use too
        assert flags._slots[0].flagset is not None  # the file was read at once...
        assert flagkit_threads() == []  # ...and nothing runs
        USES[use](flags)
        wanted = {"flagkit-file-features.yaml", "flagkit-usage", "flagkit-exposures"}
        wait_until(lambda: wanted <= set(flagkit_threads()))
        assert flags.is_enabled("a")
        # From now on the snapshot holds the compiled resolvers themselves.
        snap = flags._snapshot
        observed = snap.hooks.observed if snap.hooks is not None else {}
        assert observed["a"][0] is snap.flags["a"].resolve
        write_atomic_rename(path, "features:\n  a: false\n")
        wait_until(lambda: not flags.is_enabled("a"))


def test_a_plain_client_publishes_the_compiled_resolvers_after_the_first_use(tmp_path: Path) -> None:
    path = tmp_path / "features.yaml"
    path.write_text("features:\n  a: true\n")
    with Flags(FileProvider(path)) as flags:
        assert flags._snapshot.table["a"] is not flags._snapshot.flags["a"].resolve  # starts them
        assert flags.is_enabled("a")
        assert flags._snapshot.table["a"] is flags._snapshot.flags["a"].resolve


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_child_of_a_master_that_never_used_the_client_starts_its_own(tmp_path: Path) -> None:
    from tests.providers.test_fork import Messages, reap, run_in_child

    path = tmp_path / "features.yaml"
    path.write_text("features:\n  color: red\n")
    flags = Flags(FileProvider(path))  # created in the "master", never used there

    def child(send: Callable[[dict[str, object]], None]) -> None:
        before = flagkit_threads()
        served = flags.get_value("color", "")  # the first use in the child
        wait_until(lambda: "flagkit-file-features.yaml" in flagkit_threads())
        send({"before": before, "served": served})
        seen = wait_until(lambda: flags.get_value("color", "") == "blue" and "blue", timeout=8)
        send({"seen": seen})
        flags.close()

    try:
        assert flagkit_threads() == []  # nothing runs in the master when it forks
        pid, fd = run_in_child(child)
        try:
            messages = Messages(fd)
            assert messages.next() == {"before": [], "served": "red"}
            write_atomic_rename(path, "features:\n  color: blue\n")
            assert messages.next() == {"seen": "blue"}
            assert reap(pid) == 0
        finally:
            os.close(fd)
        assert flagkit_threads() == []  # still nothing in the master
    finally:
        flags.close()
