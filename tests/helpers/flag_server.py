"""A small threaded HTTP flag server on 127.0.0.1 for the HTTP provider tests.

It serves one document with a strong ETag and ``Last-Modified`` and answers conditional
requests with 304. ``mode`` makes it misbehave the way real servers and networks do:

* ``"ok"`` - serve the document (or 304);
* ``"error"`` - HTTP 500;
* ``"hang"`` - accept the request and never answer (until the server stops);
* ``"trickle"`` - send the headers, then one body byte every 0.2 s;
* ``"truncate"`` - declare the full Content-Length, send half the body, close;
* ``"oversize"`` - declare and send ``oversize_bytes`` bytes;
* ``"oversize_unsized"`` - send ``oversize_bytes`` bytes without a Content-Length;
* ``"redirect"`` - 302 to ``redirect_to``;
* ``"garbage"`` - 200 with a body that is not a flag document.

:meth:`stop` makes the server go away (connections are then refused).

:class:`SilentServer` accepts TCP connections and never says a word: a TLS handshake (or an
HTTP request) to it hangs until the client gives up.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FlagServer", "RecordedRequest", "SilentServer"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received (header names lower-cased).

    ``headers`` keeps one value per name; ``header_list`` keeps every header line as sent,
    so a header sent twice can be seen.
    """

    path: str
    headers: dict[str, str]
    status: int
    header_list: tuple[tuple[str, str], ...] = ()

    def values(self, name: str) -> list[str]:
        """Every value sent for the header ``name`` (any case), in order."""
        return [value for key, value in self.header_list if key.lower() == name.lower()]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    flag_server: FlagServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""

    def do_GET(self) -> None:
        self.server.flag_server.handle(self)


class FlagServer:
    """Serve ``body`` at any path of ``http://127.0.0.1:<port>/``.

    Args:
        body: The flag document.
        content_type: Its Content-Type.
        port: 0 picks a free port.
        tls: Serve HTTPS with this server context.
    """

    def __init__(
        self,
        body: str = "features: {}\n",
        content_type: str = "application/yaml",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.content_type = content_type
        self.mode = "ok"
        self.redirect_to = ""
        self.oversize_bytes = 11 * 1024 * 1024
        self.send_etag = True
        self.requests: list[RecordedRequest] = []
        self._release = threading.Event()
        self._lock = threading.Lock()
        self.set_body(body)
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.flag_server = self
        self.scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="test-flag-server", daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/flags.yaml") -> str:
        """The URL of ``path`` on this server."""
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def set_body(self, body: str, modified: float | None = None) -> None:
        """Serve a new document (new ETag; Last-Modified ``modified``, default now)."""
        with self._lock:
            self.body = body.encode()
            self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
            self.last_modified = formatdate(time.time() if modified is None else modified, usegmt=True)

    def statuses(self) -> list[int]:
        """The status codes served so far, in order."""
        with self._lock:
            return [r.status for r in self.requests]

    def stop(self) -> None:
        """Go away: stop serving and close the listening socket; release hung requests."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FlagServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- request handling (server threads) ---------------------------------------------

    def _record(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        items = tuple(handler.headers.items())
        headers = {k.lower(): v for k, v in items}
        with self._lock:
            self.requests.append(RecordedRequest(handler.path, headers, status, items))

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            mode, body, etag, modified = self.mode, self.body, self.etag, self.last_modified
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
            getattr(self, f"_serve_{mode}")(handler, body, etag, modified)

    def _serve_ok(self, handler: BaseHTTPRequestHandler, body: bytes, etag: str, modified: str) -> None:
        if self.send_etag and handler.headers.get("If-None-Match") == etag:
            self._record(handler, 304)
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.end_headers()
            return
        self._record(handler, 200)
        handler.send_response(200)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(body)))
        if self.send_etag:
            handler.send_header("ETag", etag)
        handler.send_header("Last-Modified", modified)
        handler.end_headers()
        handler.wfile.write(body)

    def _serve_error(self, handler: BaseHTTPRequestHandler, *_: Any) -> None:
        self._record(handler, 500)
        handler.send_error(500, "Internal Server Error")

    def _serve_hang(self, handler: BaseHTTPRequestHandler, *_: Any) -> None:
        self._record(handler, 0)
        self._release.wait(60)

    def _serve_trickle(self, handler: BaseHTTPRequestHandler, body: bytes, *_: Any) -> None:
        self._record(handler, 200)
        handler.send_response(200)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for byte in body:
            if self._release.wait(0.2):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()

    def _serve_truncate(self, handler: BaseHTTPRequestHandler, body: bytes, *_: Any) -> None:
        self._record(handler, 200)
        handler.send_response(200)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.close_connection = True

    def _serve_oversize(self, handler: BaseHTTPRequestHandler, *_: Any, sized: bool = True) -> None:
        self._record(handler, 200)
        handler.send_response(200)
        handler.send_header("Content-Type", self.content_type)
        if sized:
            handler.send_header("Content-Length", str(self.oversize_bytes))
        handler.end_headers()
        chunk = b"#" * 65536
        sent = 0
        while sent < self.oversize_bytes:
            part = chunk[: self.oversize_bytes - sent]
            handler.wfile.write(part)
            sent += len(part)

    def _serve_oversize_unsized(self, handler: BaseHTTPRequestHandler, *args: Any) -> None:
        self._serve_oversize(handler, *args, sized=False)

    def _serve_redirect(self, handler: BaseHTTPRequestHandler, *_: Any) -> None:
        self._record(handler, 302)
        handler.send_response(302)
        handler.send_header("Location", self.redirect_to)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _serve_garbage(self, handler: BaseHTTPRequestHandler, *_: Any) -> None:
        self._record(handler, 200)
        body = b"<html>502 Bad Gateway</html>"
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never sends anything.

    A TLS client hangs in its handshake (an HTTP client waits for the response) until its
    own timeout or until it shuts the socket down. :meth:`stop` closes everything.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="test-silent-server", daemon=True)
        self._thread.start()

    def url(self, path: str = "/flags.json", scheme: str = "https") -> str:
        """A URL on this server."""
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    @property
    def accepted(self) -> int:
        """How many connections have been accepted so far."""
        with self._lock:
            return len(self._connections)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            with self._lock:
                self._connections.append(conn)

    def stop(self) -> None:
        """Stop accepting and close every connection."""
        self._stopped.set()
        self._thread.join(2)
        self._listener.close()
        with self._lock:
            for conn in self._connections:
                conn.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
