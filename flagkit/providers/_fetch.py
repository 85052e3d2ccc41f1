"""The default transport of HttpProvider: one guarded GET on the standard library only.

* an overall deadline covering DNS, connect, TLS, headers and every body read (a server
  trickling one byte per second never holds a fetch past it);
* a body size limit, checked against Content-Length and while reading;
* truncated bodies detected (Content-Length not met, broken chunked encoding);
* redirects followed by hand: credentials are dropped when the origin changes and an
  https → http downgrade is refused;
* proxies from ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` (urllib's rules) or given
  explicitly: absolute-form requests for ``http://``, a ``CONNECT`` tunnel for ``https://``
  (certificates are still verified against the origin); proxy credentials are secrets.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request

from ..errors import SourceError
from ._dns import Aborted, Addresses, Resolver
from ._request import merge_headers
from ._secrets import Redactor, mask_url, split_credentials
from .transport import FetchRequest, FetchResponse, Transport

__all__ = ["Proxy", "StdlibTransport"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_MAX_TUNNEL_REPLY = 64 * 1024
"""Longest answer head a proxy may send to ``CONNECT``."""


class Proxy:
    """Where to send a request instead of its origin: an ``http://`` proxy."""

    __slots__ = ("authorization", "host", "port", "secrets")

    def __init__(self, url: str) -> None:
        url = _with_scheme(url)
        credentials = split_credentials(url)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"a proxy must be an http:// URL (got {parts.scheme}://)")
        self.host = parts.hostname
        self.port = parts.port or 80  # ValueError for a bad port (the message quotes no URL)
        self.authorization = credentials.authorization
        self.secrets = credentials.secrets


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.seconds = seconds
        self.binding = False
        """The last timeout handed out was cut short by the deadline: if it fires, the
        deadline is what ended the fetch (one cause, one wording, whichever timer won)."""

    def remaining(self, cap: float) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"fetch took longer than the {self.seconds:g}s deadline")
        self.binding = left < cap
        return min(cap, left)


class _Connection(http.client.HTTPConnection):
    """HTTP(S) connection to pre-resolved addresses, with TLS when a context is given."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: Addresses,
        timeout: float,
        tls: ssl.SSLContext | None,
        halt: threading.Event,
        tunnel: Proxy | None = None,
    ) -> None:
        self.default_port = 443 if tls is not None else 80
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses
        self._tls = tls
        self._halt = halt
        self._via = tunnel
        """A proxy to ask for a ``CONNECT`` tunnel to ``host:port`` (``addresses`` are the
        proxy's), before the TLS handshake with the origin."""
        self.raw: socket.socket | None = None
        """The socket of the current attempt, published *before* each blocking step (connect,
        TLS handshake) so that ``abort()`` can shut it down; kept after http.client hands it
        to the response."""

    def connect(self) -> None:
        error: OSError | None = None
        for family, socktype, proto, _, address in self._addresses:
            sock = socket.socket(family, socktype, proto)
            try:
                sock.settimeout(self.timeout)
                self._publish(sock)
                sock.connect(address)
                if self._via is not None:
                    self._open_tunnel(sock, self._via)
                if self._tls is not None:
                    # wrap_socket() detaches the plain socket, so a handshake started by it
                    # could not be shut down: wrap first (no I/O), publish, then handshake.
                    sock = self._tls.wrap_socket(
                        sock, server_hostname=self.host, do_handshake_on_connect=False
                    )
                    self._publish(sock)
                    sock.do_handshake()
            except OSError as exc:
                sock.close()
                if isinstance(exc, Aborted) or self._halt.is_set():
                    raise Aborted("fetch aborted") from None  # no other address after an abort
                error = exc
                continue
            self.sock = sock
            return
        raise error or OSError(f"no address for {self.host}")

    def _open_tunnel(self, sock: socket.socket, proxy: Proxy) -> None:
        """Ask the proxy for a tunnel to the origin; raises OSError unless it answers 2xx."""
        target = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if proxy.authorization is not None:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = b""
        while b"\r\n\r\n" not in head:  # the proxy says nothing after its head until we speak
            chunk = sock.recv(1)
            if not chunk:
                raise OSError("the proxy closed the connection instead of opening a tunnel")
            head += chunk
            if len(head) > _MAX_TUNNEL_REPLY:
                raise OSError("the proxy's answer to CONNECT is too long")
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        fields = status_line.split(" ", 2)
        if len(fields) < 2 or not fields[1].startswith("2"):
            raise OSError(f"the proxy refused the tunnel: {status_line[:100]}")

    def _publish(self, sock: socket.socket) -> None:
        self.raw = sock
        # abort() sets the halt event before it looks at `raw`: checking it after publishing
        # means an abort is never missed, whichever thread gets there first.
        if self._halt.is_set():
            raise Aborted("fetch aborted")


class _Exchange:
    """One fetch of a StdlibTransport: its abort flag, deadline and current connection."""

    __slots__ = ("active", "cancel", "deadline", "expired", "halt", "response")

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.halt = threading.Event()
        self.expired = False
        self.deadline: _Deadline | None = None
        self.active: _Connection | None = None
        self.response: http.client.HTTPResponse | None = None

    def connect(
        self,
        host: str,
        port: int,
        addresses: Addresses,
        *,
        timeout: float,
        tls: ssl.SSLContext | None,
        tunnel: Proxy | None = None,
    ) -> _Connection:
        """A connection to ``addresses`` (``host``'s, or a proxy's), published for abort()."""
        conn = self.active = _Connection(
            host, port, addresses=addresses, timeout=timeout, tls=tls, halt=self.halt, tunnel=tunnel
        )
        return conn

    def abort(self) -> None:
        """Shut the fetch's socket down (from another thread)."""
        self.halt.set()  # before looking at the socket (see _Connection._publish)
        conn = self.active
        sock = conn.raw if conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def expire(self) -> None:
        """The deadline timer fired."""
        self.expired = True
        self.abort()

    def close(self) -> None:
        response, self.response = self.response, None
        conn, self.active = self.active, None
        if response is not None:
            response.close()
        if conn is not None:
            conn.close()
            if conn.raw is not None:
                conn.raw.close()


class StdlibTransport(Transport):
    """The default transport: ``http.client`` and ``ssl`` with flagkit's guarantees.

    One instance may serve several providers: each fetch keeps its own state, and
    :meth:`abort` (from another thread) breaks only the fetches whose ``request.cancel`` is set.

    Args:
        ssl_context: TLS settings; default verifies certificates (with ``cafile`` if given).
        cafile: CA bundle to verify servers with (default: the system store).
        proxy: ``True`` (default): the proxy the environment names for the URL's scheme
            (``HTTP_PROXY``/``HTTPS_PROXY``, lower-case too), unless ``NO_PROXY`` matches
            the host, by urllib's rules; read when the transport is made. ``False``: never a
            proxy, whatever the environment. A URL (``http://[user:password@]host:port``):
            that proxy for every request. Only ``http://`` proxies are supported (an
            ``https://`` origin is reached through a ``CONNECT`` tunnel, its certificate
            verified as without a proxy).

    Raises:
        ValueError: ``proxy`` is not an ``http://`` URL.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        cafile: str | None = None,
        proxy: str | bool = True,
    ) -> None:
        if ssl_context is None:
            ssl_context = ssl.create_default_context(cafile=cafile)
        self.ssl_context = ssl_context
        self._fixed: Proxy | None = None
        self._environment: dict[str, str] = {}
        if isinstance(proxy, str):
            self._fixed = Proxy(proxy)
        elif proxy:
            self._environment = urllib.request.getproxies()
        secrets: set[str] = set(self._fixed.secrets) if self._fixed is not None else set()
        for scheme, value in self._environment.items():
            if scheme != "no":  # NO_PROXY is a list of hosts
                with contextlib.suppress(ValueError):
                    secrets |= split_credentials(_with_scheme(value)).secrets
        self._secrets = frozenset(secrets)
        self.redact = Redactor(secrets)
        """Masks the proxies' credentials (the provider masks its own secrets)."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._exchanges: set[_Exchange] = set()
        """The fetches in progress (one per provider sharing this transport)."""
        self._resolver = Resolver()

    def __repr__(self) -> str:
        mode = (
            "fixed proxy"
            if self._fixed
            else "proxies from the environment"
            if self._environment
            else "direct"
        )
        return f"<StdlibTransport {mode}>"  # never the proxy URL: it may hold credentials

    def proxy_secrets(self) -> frozenset[str]:
        """The credentials of the proxies this transport may use: never to be shown."""
        return self._secrets

    def proxy_for(self, url: str) -> Proxy | None:
        """The proxy a request to ``url`` goes through, or None.

        Raises:
            SourceError: The environment names a proxy that is not a usable ``http://`` URL.
        """
        if self._fixed is not None:
            return self._fixed
        parts = urllib.parse.urlsplit(url)
        chosen = self._environment.get(parts.scheme)
        if not chosen:
            return None
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        # NO_PROXY by urllib's rules, applied to the proxies read when the transport was made.
        if urllib.request.proxy_bypass_environment(host, self._environment):  # type: ignore[attr-defined]  # public in CPython, missing from typeshed
            return None
        try:
            return Proxy(chosen)
        except ValueError:  # the message never quotes the URL (it may hold credentials)
            raise SourceError(
                f"the {parts.scheme.upper()}_PROXY environment variable is not a usable http:// proxy URL"
            ) from None

    def abort(self) -> None:
        """Break every fetch in progress whose ``request.cancel`` is set (from another
        thread; ``stop()`` sets it first): shut its socket down.

        Works at every stage: a DNS wait ends, a connect or TLS handshake is shut down, and
        no further address or redirect is tried. The fetches of other providers sharing
        this transport go on.
        """
        with self._lock:
            cancelled = [exchange for exchange in self._exchanges if exchange.cancel.is_set()]
        for exchange in cancelled:
            exchange.abort()

    def _forget_after_fork(self) -> None:
        """In a fork child: drop (never shut down) the sockets the parent may still be using."""
        self._pid = os.getpid()
        self._lock = threading.Lock()  # another thread may have held it at fork time
        self._exchanges = set()
        self._resolver = Resolver()  # the parent's lookup threads do not exist here

    def fetch(self, request: FetchRequest) -> FetchResponse:
        """GET ``request.url``, following redirects, within ``request.deadline``.

        Raises:
            SourceError: Anything that went wrong, proxy credentials masked.
        """
        if os.getpid() != self._pid:
            self._forget_after_fork()
        exchange = _Exchange(request.cancel)
        if request.cancel.is_set():
            exchange.halt.set()  # a stop that came before this call is not lost
        with self._lock:
            self._exchanges.add(exchange)
        # Per-operation timeouts bound each recv(); this timer bounds the whole exchange
        # (a server trickling headers or body a byte at a time) by shutting the socket down.
        # A one-shot threading.Timer, not a _workers.Worker: it lives within this call (cancelled
        # in the finally below), so it has no owner to outlive and nothing to do after a fork.
        timer = threading.Timer(request.deadline, exchange.expire)
        timer.name = "flagkit-http-deadline"
        timer.daemon = True
        timer.start()
        try:
            return self._get(request, exchange)
        except (SourceError, OSError, http.client.HTTPException, ValueError) as exc:
            # ssl.SSLError, socket.timeout and TimeoutError are OSErrors.
            deadline = exchange.deadline
            if exchange.expired or (
                isinstance(exc, TimeoutError) and deadline is not None and deadline.binding
            ):
                detail = f"fetch took longer than the {request.deadline:g}s deadline"
            elif exchange.halt.is_set() or request.cancel.is_set():
                detail = "fetch aborted"
            elif isinstance(exc, SourceError):
                raise  # made here, from nothing secret
            elif isinstance(exc, http.client.IncompleteRead):
                detail = "IncompleteRead: connection closed before the whole body arrived"
            else:
                detail = f"{type(exc).__name__}: {exc or 'no detail'}"
        finally:
            timer.cancel()
            exchange.close()
            with self._lock:
                self._exchanges.discard(exchange)
        # Raised outside the except block: no chained exception keeps sockets or secrets alive.
        raise SourceError(self.redact(detail), mask_url(request.url))

    def _get(self, request: FetchRequest, exchange: _Exchange) -> FetchResponse:
        deadline = exchange.deadline = _Deadline(request.deadline)
        timeout = request.timeout
        url = request.url
        halt = exchange.halt
        headers = dict(request.headers)
        for _ in range(_MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            tls = parts.scheme == "https"
            host = parts.hostname or ""
            port = parts.port or (443 if tls else 80)
            proxy = self.proxy_for(url)
            target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
            sent = headers
            context = self.ssl_context if tls else None
            if proxy is None:
                addresses = self._resolver.resolve(host, port, deadline.remaining(timeout), halt)
                conn = exchange.connect(
                    host, port, addresses, timeout=deadline.remaining(timeout), tls=context
                )
            else:
                addresses = self._resolver.resolve(proxy.host, proxy.port, deadline.remaining(timeout), halt)
                if tls:  # a tunnel: the proxy sees the origin's name, never the request
                    conn = exchange.connect(
                        host, port, addresses, timeout=deadline.remaining(timeout), tls=context, tunnel=proxy
                    )
                else:  # absolute form: the proxy forwards it (http.client sends Host from it)
                    conn = exchange.connect(
                        proxy.host, proxy.port, addresses, timeout=deadline.remaining(timeout), tls=None
                    )
                    target = urllib.parse.urlunsplit(parts._replace(fragment=""))
                    if proxy.authorization is not None:
                        sent = merge_headers(headers, {"Proxy-Authorization": proxy.authorization})
            conn.request("GET", target, headers=sent)
            self._arm(conn, deadline, timeout)
            response = exchange.response = conn.getresponse()
            if response.status in _REDIRECTS:
                location = response.getheader("Location")
                exchange.close()
                if not location:
                    raise SourceError(f"HTTP {response.status} redirect without a Location", mask_url(url))
                new_url = urllib.parse.urljoin(url, location)
                new = urllib.parse.urlsplit(new_url)
                if new.scheme not in ("http", "https"):
                    raise SourceError("redirect to a non-HTTP URL refused", mask_url(url))
                if tls and new.scheme != "https":
                    raise SourceError("redirect from https to http refused", mask_url(url))
                if _origin(new) != _origin(parts):
                    # Credentials were meant for the first origin only.
                    headers = {k: v for k, v in headers.items() if k.lower() not in request.private_headers}
                url = new_url
                continue
            found = dict(response.getheaders())
            if response.status != 200:  # a 304, or an error the provider reports
                return FetchResponse(response.status, b"", found, url, response.reason or "")
            body = self._read_body(conn, response, deadline, timeout, request.max_bytes, url)
            return FetchResponse(200, body, found, url, response.reason or "")
        raise SourceError(f"more than {_MAX_REDIRECTS} redirects", mask_url(request.url))

    def _arm(self, conn: _Connection, deadline: _Deadline, timeout: float) -> None:
        """Bound the next socket operation by both the timeout and the deadline."""
        # http.client closes the socket once a response is fully read; Python 3.13 raises
        # EBADF for settimeout() on a closed socket (3.11 ignored it).
        if conn.raw is not None and conn.raw.fileno() != -1:
            conn.raw.settimeout(deadline.remaining(timeout))

    def _read_body(
        self,
        conn: _Connection,
        response: http.client.HTTPResponse,
        deadline: _Deadline,
        timeout: float,
        max_bytes: int,
        url: str,
    ) -> bytes:
        declared = response.getheader("Content-Length")
        length: int | None = None
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise SourceError(f"bad Content-Length {declared!r}", mask_url(url)) from None
            if length > max_bytes:
                raise SourceError(f"body is {length:,} bytes, over the limit of {max_bytes:,}", mask_url(url))
        chunks: list[bytes] = []
        total = 0
        while True:
            self._arm(conn, deadline, timeout)
            chunk = response.read1(_CHUNK)  # one recv at most: the deadline is checked per chunk
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise SourceError(f"body is over the limit of {max_bytes:,} bytes", mask_url(url))
            chunks.append(chunk)
        if length is not None and total != length:
            raise SourceError(
                f"truncated body: got {total:,} of {length:,} bytes (connection closed early)", mask_url(url)
            )
        return b"".join(chunks)


def _with_scheme(url: str) -> str:
    """A proxy given as ``host:port`` (as curl and urllib accept it) is an ``http://`` one."""
    return url if "://" in url else f"http://{url}"


def _origin(parts: urllib.parse.SplitResult) -> tuple[str, str, int]:
    default = 443 if parts.scheme == "https" else 80
    return (parts.scheme, (parts.hostname or "").lower(), parts.port or default)
