"""A real ``redis-server`` on 127.0.0.1, started by the tests (and the fleet benchmark).

No persistence, a temporary directory, a free port; ``kill()`` and ``start()`` again on the
same port simulate an outage. ``.ci/run`` installs the Debian package ``redis-server``; the
fixture skips (saying why) only when the binary is absent.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.helpers import missing_tool

__all__ = ["RedisServer", "find_redis_server", "free_port", "require_redis_server"]

_CANDIDATES = ("/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server")


def find_redis_server() -> str | None:
    """The redis-server binary, or None when it is not installed."""
    found = shutil.which("redis-server")
    if found:
        return found
    return next((path for path in _CANDIDATES if os.access(path, os.X_OK)), None)


def require_redis_server() -> str:
    """The redis-server binary; skips the test when it is absent (fails under CI)."""
    binary = find_redis_server()
    if binary is None:
        missing_tool("redis-server", "apt-get install redis-server")
    return binary


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process; restartable on the same port.

    Args:
        binary: Path of redis-server.
        root: A private directory (working dir and log).
        password: Sets ``requirepass`` when given.
    """

    def __init__(self, binary: str, root: Path, *, password: str | None = None) -> None:
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:PORT/0``."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait until it answers PING."""
        assert self.process is None or self.process.poll() is not None, "already running"
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        args += ["--dir", str(self.root), "--logfile", str(self.root / "redis.log"), "--daemonize", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self._answers_ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (
                    (self.root / "redis.log").read_text(errors="replace")
                    if (self.root / "redis.log").exists()
                    else ""
                )
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log[-2000:]}")
            time.sleep(0.02)

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                if self.password:
                    sock.sendall(f"AUTH {self.password}\r\n".encode())
                    if not sock.recv(64).startswith(b"+OK"):
                        return False
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: an abrupt outage (connections reset, data lost: no persistence)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """Terminate the server (idempotent)."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
