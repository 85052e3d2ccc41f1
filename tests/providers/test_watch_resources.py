"""Every descriptor, inotify instance and thread a FileProvider's watcher creates is released:
at ``close()``, and on each failed attempt to watch while inotify's limits are reached (the
provider then polls). Counted from /proc, with the real watchdog observer and the real kernel
limits (lowered in a private user namespace, so no other process on the machine is affected).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from flagkit import FileProvider, Flags
from tests.helpers.saves import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.isdir("/proc/self/fdinfo"), reason="counts descriptors in /proc (Linux)"),
]

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def descriptors() -> tuple[int, int]:
    """(open descriptors, inotify instances) of this process."""
    count = inotify = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the descriptor listdir itself used, closed meanwhile
            continue
        count += 1
        inotify += target == "anon_inode:inotify"
    return count, inotify


def settled(probe: Callable[[], T], expected: T, timeout: float = 30.0) -> T:
    """``probe()`` once it returns ``expected`` (or its last value after ``timeout``): threads
    that were told to stop may take a moment to close what they hold, longer on a loaded
    machine, so this waits for the expected value rather than for a value that held still."""
    deadline = time.monotonic() + timeout
    value = probe()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        value = probe()
    return value


def flagkit_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.is_alive() and t is not threading.current_thread())


def test_creating_and_closing_clients_in_a_loop_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "features.yaml"
    path.write_text("features:\n  a: true\n")
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave the watcher's start with close() as often as possible
    try:
        with Flags(FileProvider(path)) as flags:  # imports, logging set-up: not counted
            flags.wait_ready(5)
        threads = flagkit_threads()
        baseline = descriptors()
        for cycle in range(300):
            flags = Flags(FileProvider(path), usage=cycle % 3 == 0)
            if cycle % 3 == 1:  # the listener dispatcher and the exposure thread too
                flags.on_change(lambda keys: None)
                flags.on_exposure(lambda exposure: None)
            assert flags.is_enabled("a")
            provider = flags.providers[0]
            assert isinstance(provider, FileProvider)
            if cycle % 2:  # closed once watching, or while the watcher is still starting
                wait_until(provider._watcher.alive)  # started by is_enabled above
            flags.close()
    finally:
        sys.setswitchinterval(switch)
    assert settled(descriptors, baseline) == baseline  # (descriptors, inotify instances)
    assert settled(flagkit_threads, threads) == threads, [t.name for t in threading.enumerate()]


CHILD = """
import ctypes, json, os, sys, threading, time
sys.path.insert(0, {root!r})

# A private user namespace: its inotify limits are its own (the machine's stay as they are).
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
    print(json.dumps({{"unshare": os.strerror(ctypes.get_errno())}}))
    sys.exit(0)
for name, text in (("setgroups", "deny"), ("uid_map", "0 0 1"), ("gid_map", "0 0 1")):
    with open(f"/proc/self/{{name}}", "w") as fh:
        fh.write(text)
with open({limit!r}, "w") as fh:
    fh.write("0")

import flagkit.providers.file as file_module
from flagkit import FileProvider, Flags
from flagkit.providers._watch import DirectoryWatcher

file_module._WATCH_RETRY = (0.01, 0.01)  # try to watch again at every poll, as often as possible
attempts = []
real_ensure = DirectoryWatcher.ensure
def ensure(self, dirs, targets):
    attempts.append(1)
    return real_ensure(self, dirs, targets)
DirectoryWatcher.ensure = ensure

def descriptors():
    count = inotify = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{{name}}")
        except OSError:
            continue
        count += 1
        inotify += target == "anon_inode:inotify"
    return count, inotify

path = {path!r}
baseline = descriptors()  # a provider at rest holds no descriptor
threads = threading.active_count()
flags = Flags(FileProvider(path, poll_interval=0.01))
assert flags.get_value("n", 0) == 1  # the first use starts the watcher thread
samples = []
deadline = time.monotonic() + 60
while len(attempts) < 200 and time.monotonic() < deadline:
    samples.append(descriptors())
    time.sleep(0.01)
with open(path + ".tmp", "w") as fh:
    fh.write("features:\\n  n: 2\\n")
os.replace(path + ".tmp", path)
while flags.get_value("n", 0) != 2 and time.monotonic() < deadline:
    time.sleep(0.01)
served = flags.get_value("n", 0)
flags.close()
time.sleep(0.2)  # let the threads told to stop end
print(json.dumps({{
    "attempts": len(attempts), "baseline": baseline,
    "most": [max(n for n, _ in samples), max(i for _, i in samples)],
    "last": descriptors(), "served": served, "threads": [threads, threading.active_count()],
}}))
"""


@pytest.mark.parametrize(
    ("limit", "error"),
    [("max_inotify_watches", "ENOSPC"), ("max_inotify_instances", "EMFILE")],
)
def test_polling_at_the_inotify_limit_leaks_no_descriptors(tmp_path: Path, limit: str, error: str) -> None:
    path = tmp_path / "features.yaml"
    path.write_text("features:\n  n: 1\n")
    script = CHILD.format(root=str(ROOT), limit=f"/proc/sys/user/{limit}", path=str(path))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if "unshare" in result:
        pytest.skip(f"no user namespaces here ({result['unshare']}): cannot reach an inotify limit privately")
    assert f"[Errno {getattr(errno, error)}]" in done.stderr, done.stderr  # the real limit
    assert result["attempts"] >= 200  # the watch was tried again and again (and failed each time)
    assert result["served"] == 2  # the documented fallback: polling picks the change up
    # Every attempt created an inotify reader (an instance, a pipe, two threads) and released it.
    baseline, most = result["baseline"], result["most"]
    assert most[0] <= baseline[0] + 3, result  # at most one attempt's descriptors in flight
    assert result["last"] == baseline, result  # after close(): nothing left
    assert most[1] <= 1, result
    assert result["threads"][1] <= result["threads"][0], result
