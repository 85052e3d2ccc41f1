"""Real HTTP origins serving a directory, each validating the way a common server does.

* :class:`PythonHttpServer` - ``python -m http.server`` in a subprocess: ``Last-Modified``
  only (one-second resolution), answers ``If-Modified-Since`` with 304 when the file's mtime is
  not later than it.
* :class:`HashEtagServer` - a small threaded server whose ``ETag`` is the SHA-256 of the file's
  content (a strong validator in every sense) and no ``Last-Modified``; answers
  ``If-None-Match`` with 304. With ``etag="mtime-size"`` its ETag is nginx's (whole-second
  mtime and size), still without ``Last-Modified``: an origin whose only validator cannot
  show a same-second, same-size edit and gives the client nothing to tell so.

nginx (ETag from mtime and size, plus ``Last-Modified``) is in :mod:`tests.helpers.nginx`.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .redis_server import free_port

__all__ = ["HashEtagServer", "PythonHttpServer"]


def _wait_listening(port: int, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"the origin on port {port} did not start") from None
            time.sleep(0.05)


class PythonHttpServer:
    """``python -m http.server`` serving ``root`` on 127.0.0.1 (a subprocess).

    Attributes:
        base: ``http://127.0.0.1:PORT``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait until it accepts connections."""
        self.root.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1"]
        command += ["--directory", str(self.root)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_listening(self.port, self.process, timeout)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the server (idempotent)."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    root: Path
    etag_kind: str


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""

    def do_GET(self) -> None:
        path = self.server.root / self.path.split("?", 1)[0].lstrip("/")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            try:
                body = path.read_bytes()
                st = path.stat()
            except OSError:
                self.send_error(404)
                return
            if self.server.etag_kind == "content":
                etag = '"' + hashlib.sha256(body).hexdigest() + '"'
            else:  # nginx's: hex seconds of the mtime, hex size
                etag = f'"{int(st.st_mtime):x}-{len(body):x}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/yaml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)


class HashEtagServer:
    """Serves the files of ``root`` with a content-hash ETag and no ``Last-Modified``.

    Attributes:
        base: ``http://127.0.0.1:PORT``.
    """

    def __init__(self, root: Path, etag: str = "content") -> None:
        if etag not in ("content", "mtime-size"):
            raise ValueError(f"etag must be 'content' or 'mtime-size', not {etag!r}")
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.root = root
        self._server.etag_kind = etag
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-hash-etag", daemon=True)

    def start(self) -> None:
        """Start serving (in a daemon thread)."""
        self._thread.start()
        _wait_listening(self.port, None, 5.0)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
