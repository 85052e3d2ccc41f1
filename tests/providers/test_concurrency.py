"""Readers never see half of an update: 8 threads evaluate while the file flips 500 times."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flagkit import FileProvider, Flags
from tests.helpers.saves import wait_until

pytestmark = pytest.mark.slow

# Two versions that differ in every flag, so a mixed or partial snapshot is detectable.
VERSION_A = """\
features:
  color: red
  size: 1
  checkout: true
  banner:
    variants: {on: true, off: false}
    default: off
    rules:
      - when: {country: [DE]}
        serve: on
"""
VERSION_B = """\
features:
  color: blue
  size: 2
  checkout: false
  banner:
    variants: {on: true, off: false}
    default: on
    rules:
      - when: {country: [DE]}
        serve: off
"""
EXPECTED = {
    "a": ("red", 1, True, True, False),
    "b": ("blue", 2, False, False, True),
}


# The writer is another process (as an editor or a deploy tool would be), so it does not
# compete with the readers for this interpreter's GIL.
WRITER = """
import os, sys, time
from tests.helpers.saves import write_atomic_rename, write_in_place
save = {"in_place": write_in_place, "atomic_rename": write_atomic_rename}[sys.argv[1]]
path, a, b, handshake = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
for i in range(500):
    save(__import__("pathlib").Path(path), b if i % 2 == 0 else a)
    if i == 250:
        # A burst is read only a few times (reloads are rate-limited), and each read may
        # catch A. So once, in the middle, B is left in place until the test says a reader
        # was served it: both versions are then surely seen, whatever the timing.
        open(handshake, "w").close()
        deadline = time.monotonic() + 60
        while os.path.exists(handshake) and time.monotonic() < deadline:
            time.sleep(0.005)
    time.sleep(0.001)
"""


@pytest.mark.parametrize("style", ["in_place", "atomic_rename"])
def test_eight_readers_during_500_rewrites(tmp_path: Path, style: str, no_thread_leaks: None) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(VERSION_A)
    flags = Flags(FileProvider(path))
    provider = flags.providers[0]
    assert isinstance(provider, FileProvider)
    wait_until(lambda: flags.ready and provider._watcher.alive())  # the first use starts it
    stop = threading.Event()
    saw = {"a": threading.Event(), "b": threading.Event()}
    problems: list[str] = []
    seen: dict[str, int] = {"a": 0, "b": 0}
    lock = threading.Lock()

    def reader() -> None:
        local = {"a": 0, "b": 0}
        try:
            for iteration in itertools.count():
                if stop.is_set():
                    break
                if iteration % 20 == 0:
                    # Real readers do I/O now and then: without it, eight pure-Python loops
                    # starve the watcher threads of the GIL and few reloads happen at all.
                    time.sleep(0.0002)
                with flags.snapshot():  # every flag read inside comes from one snapshot
                    result = (
                        flags.get_value("color", ""),
                        flags.get_value("size", 0),
                        flags.is_enabled("checkout"),
                        flags.is_enabled("banner", {"country": "DE"}),
                        flags.is_enabled("banner", {"country": "US"}),
                    )
                # Unpinned single evaluations must also be one version or the other.
                single = flags.get_value("color", "")
                if single not in ("red", "blue"):
                    problems.append(f"unpinned color {single!r}")
                for name, expected in EXPECTED.items():
                    if result == expected:
                        local[name] += 1
                        saw[name].set()
                        break
                else:
                    problems.append(f"mixed or partial snapshot: {result!r}")
        except Exception as exc:
            problems.append(f"{type(exc).__name__}: {exc}")
        with lock:
            for name in local:
                seen[name] += local[name]

    threads = [threading.Thread(target=reader, name=f"test-reader-{i}") for i in range(8)]
    for thread in threads:
        thread.start()
    try:
        assert saw["a"].wait(30)
        root = Path(__file__).resolve().parents[2]
        handshake = tmp_path / "served-b"
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, style, str(path), VERSION_A, VERSION_B, str(handshake)], cwd=root
        )
        try:
            wait_until(handshake.exists, timeout=60)  # B is in place and stays there...
            assert saw["b"].wait(30)  # ...until a reader is served it
            handshake.unlink()
            assert writer.wait(60) == 0
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
        # The last write was VERSION_A; wait for it to be served.
        wait_until(lambda: flags.get_value("color", "") == "red")
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        flags.close()
    assert problems[:5] == []
    assert seen["a"] > 0
    assert seen["b"] > 0  # the readers did observe both versions
