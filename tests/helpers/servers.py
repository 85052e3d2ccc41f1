"""Real server processes (gunicorn, uvicorn, ``flask run``…) started by a test, in a chosen
working directory, on a free port of 127.0.0.1; stopped (SIGTERM, then SIGKILL) afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["Server", "free_port", "run_server"]


def free_port() -> int:
    """A port that was free a moment ago (the server binds it; :func:`run_server` retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A running server: its base URL and, after it stopped, what it wrote to stderr."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log: str = field(default="")

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def run_server(
    argv: Sequence[str],
    *,
    cwd: Path,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/",
    timeout: float = 90.0,
    python_path: Sequence[Path] = (),
) -> Iterator[Server]:
    """Run ``[sys.executable, *argv]`` with ``{port}`` in argv replaced by a free port.

    ``python_path`` goes first on the server's ``PYTHONPATH`` (rather than gunicorn's
    ``--pythonpath``, which splits its value on commas, so a clone path with one breaks it).

    Yields once ``GET ready_path`` answers (any status). Output goes to a file in ``log_dir``
    (read it with :meth:`Server.read_log`; ``Server.log`` holds it after the stop).
    """
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    if python_path:
        inherited = [full_env["PYTHONPATH"]] if full_env.get("PYTHONPATH") else []
        full_env["PYTHONPATH"] = os.pathsep.join([*map(str, python_path), *inherited])
    for _attempt in range(3):
        port = free_port()
        log_path = log_dir / f"server-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, *(part.replace("{port}", str(port)) for part in argv)],
                cwd=cwd,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group: the workers stop with it
            )
        server = Server(f"http://127.0.0.1:{port}", process, log_path)
        try:
            if _wait_up(server, ready_path, timeout):
                yield server
                return
        finally:
            _stop(process)
            server.log = server.read_log()
        if "address already in use" not in server.log.lower():
            raise RuntimeError(f"server {argv} did not start:\n{server.log}")
    raise RuntimeError(f"server {argv} found no free port")


def _wait_up(server: Server, path: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            httpx.get(server.url + path, timeout=5)
            return True
        except httpx.TransportError:
            time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
