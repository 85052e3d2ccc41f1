"""A small threaded forwarding proxy on 127.0.0.1 for the proxy tests.

It handles what an HTTP client sends to a forward proxy:

* absolute-form requests (``GET http://host:port/path HTTP/1.1``) for ``http://`` origins:
  it connects to the origin, sends the request in origin form and relays the answer;
* ``CONNECT host:port`` for ``https://`` origins: it answers ``200`` and relays bytes both
  ways (the TLS session is between the client and the origin; the proxy sees none of it).

Every request is recorded (method, target, headers) so a test can count what went through
it. With ``credentials`` it demands ``Proxy-Authorization: Basic ...`` and answers 407
without it.
"""

from __future__ import annotations

import base64
import contextlib
import selectors
import socket
import socketserver
import threading
import urllib.parse
from dataclasses import dataclass

__all__ = ["ForwardProxy", "ProxiedRequest"]

_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class ProxiedRequest:
    """One request the proxy received (header names lower-cased)."""

    method: str
    target: str
    headers: dict[str, str]
    status: int


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    proxy: ForwardProxy


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        with contextlib.suppress(OSError):
            self.server.proxy.serve(self.request)


class ForwardProxy:
    """A forwarding proxy on ``127.0.0.1:<port>``; use as a context manager.

    Args:
        credentials: ``(user, password)`` the client must send as ``Proxy-Authorization``.
    """

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.requests: list[ProxiedRequest] = []
        self._lock = threading.Lock()
        self._expected = None
        if credentials is not None:
            token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
            self._expected = f"Basic {token}"
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-proxy", daemon=True)
        self._thread.start()

    def url(self, userinfo: str = "") -> str:
        """The proxy's URL, with ``user:password@`` when given."""
        return f"http://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}"

    def count(self, method: str | None = None) -> int:
        """How many requests (of ``method``) went through, answered or not."""
        with self._lock:
            return sum(1 for r in self.requests if method is None or r.method == method)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ForwardProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- serving (handler threads) ----------------------------------------------------

    def serve(self, client: socket.socket) -> None:
        client.settimeout(30)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk or len(head) > _MAX_HEAD:
                return
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        lowered = {name.lower(): value for name, value in headers}
        if self._expected is not None and lowered.get("proxy-authorization") != self._expected:
            self._record(method, target, lowered, 407)
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
            self._record(method, target, lowered, 200)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._relay(client, upstream, rest)
            return
        parts = urllib.parse.urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            self._record(method, target, lowered, 400)
            client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection((parts.hostname, parts.port or 80), timeout=30)
        self._record(method, target, lowered, 200)
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        forwarded = [f"{method} {path} HTTP/1.1"]
        skip = {"proxy-authorization", "proxy-connection", "connection"}
        forwarded += [f"{name}: {value}" for name, value in headers if name.lower() not in skip]
        forwarded.append("Connection: close")
        upstream.sendall(("\r\n".join(forwarded) + "\r\n\r\n").encode("latin-1") + rest)
        self._relay(client, upstream, b"")

    def _record(self, method: str, target: str, headers: dict[str, str], status: int) -> None:
        with self._lock:
            self.requests.append(ProxiedRequest(method, target, headers, status))

    @staticmethod
    def _relay(client: socket.socket, upstream: socket.socket, pending: bytes) -> None:
        """Copy bytes both ways until one side closes."""
        with upstream, selectors.DefaultSelector() as selector:
            if pending:
                upstream.sendall(pending)
            selector.register(client, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, client)
            while True:
                for key, _ in selector.select(timeout=30):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]  # registered sockets
                    data = source.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
