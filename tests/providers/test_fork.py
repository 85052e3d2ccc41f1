"""Fork safety: a child of a process that built Flags (gunicorn --preload, uWSGI, Celery)
restarts the watcher threads and sees later changes, keeping the inherited flags meanwhile."""

from __future__ import annotations

import json
import os
import select
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from flagkit import FileProvider, Flags, HttpProvider
from tests.helpers.flag_server import FlagServer
from tests.helpers.saves import wait_until, write_atomic_rename, write_in_place

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only"),
]


def doc(color: str) -> str:
    return f"features:\n  color: {color}\n"


def run_in_child(body: Callable[[Callable[[dict[str, object]], None]], None]) -> tuple[int, int]:
    """Fork; the child runs ``body(send)`` and exits. Returns (pid, read end of the pipe)."""
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a multi-threaded process may deadlock; surviving
        # exactly that is what these tests check.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child; reported through the pipe
        code = 0
        try:
            os.close(read_fd)

            def send(message: dict[str, object]) -> None:
                os.write(write_fd, (json.dumps(message) + "\n").encode())

            body(send)
        except BaseException as exc:
            try:
                os.write(write_fd, (json.dumps({"error": repr(exc)}) + "\n").encode())
            finally:
                code = 1
        finally:
            sys.stdout.flush()
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


class Messages:
    """Line-delimited JSON from the child, read with a timeout."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def next(self, timeout: float = 10.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(left, 0))
            if not ready:
                raise AssertionError("no message from the child in time")
            chunk = os.read(self.fd, 4096)
            if not chunk:
                raise AssertionError(f"the child exited early: {self.buffer!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        message: dict[str, object] = json.loads(line)
        assert "error" not in message, message["error"]
        return message


def reap(pid: int) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the child did not exit")


@pytest.mark.parametrize("save", [write_in_place, write_atomic_rename])
def test_child_sees_a_later_file_change(tmp_path: Path, save: Callable[[Path, str], None]) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(doc("red"))
    flags = Flags(FileProvider(path))
    provider = flags.providers[0]
    assert isinstance(provider, FileProvider)
    wait_until(
        lambda: flags.ready and provider._watcher.alive()
    )  # the first use starts it  # the parent's watcher is running before the fork

    def child(send: Callable[[dict[str, object]], None]) -> None:
        # The child only observes: inherited flags first, then the change the parent makes.
        send({"inherited": flags.get_value("color", ""), "ready": flags.ready})
        value = wait_until(lambda: flags.get_value("color", "") == "blue" and "blue", timeout=8)
        state = flags.status()[provider.name].state
        send({"seen": value, "state": state})
        flags.close()

    pid, fd = run_in_child(child)
    try:
        messages = Messages(fd)
        first = messages.next()
        assert first == {"inherited": "red", "ready": True}
        time.sleep(0.2)  # let the child's new watcher settle (a poll would catch it anyway)
        save(path, doc("blue"))
        assert messages.next() == {"seen": "blue", "state": "ready"}
        assert reap(pid) == 0
        # The parent's watcher was not disturbed by the child.
        wait_until(lambda: flags.get_value("color", "") == "blue")
        save(path, doc("green"))
        wait_until(lambda: flags.get_value("color", "") == "green")
    finally:
        os.close(fd)
        flags.close()


def test_child_http_poller_restarts() -> None:
    with FlagServer(doc("red")) as server:
        flags = Flags(HttpProvider(server.url(), interval=0.05, backoff=(0.05, 0.2)))
        assert flags.wait_ready(5)

        def child(send: Callable[[dict[str, object]], None]) -> None:
            send({"inherited": flags.get_value("color", "")})
            value = wait_until(lambda: flags.get_value("color", "") == "blue" and "blue", timeout=8)
            send({"seen": value})
            flags.close()

        pid, fd = run_in_child(child)
        try:
            messages = Messages(fd)
            assert messages.next() == {"inherited": "red"}
            server.set_body(doc("blue"))
            assert messages.next() == {"seen": "blue"}
            assert reap(pid) == 0
            wait_until(lambda: flags.get_value("color", "") == "blue")
        finally:
            os.close(fd)
            flags.close()
