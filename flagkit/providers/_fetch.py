"""One HTTP GET with the guarantees HttpProvider needs, on the standard library only.

* an overall deadline covering DNS, connect, TLS, headers and every body read (a server
  trickling one byte per second never holds a fetch past it);
* a body size limit, checked against Content-Length and while reading;
* truncated bodies detected (Content-Length not met, broken chunked encoding);
* redirects followed by hand: credentials are dropped when the origin changes and an
  https → http downgrade is refused;
* secrets (header values, URL passwords and query values) masked in every message.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import email.utils
import http.client
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import SourceError

__all__ = [
    "Fetcher",
    "Redactor",
    "Response",
    "check_headers",
    "check_url",
    "mask_url",
    "validators_are_strong",
]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_USER_AGENT = "flagkit"


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
"""The characters of an HTTP header name (RFC 9110 ``token``)."""

_AUTH_SCHEMES = frozenset({"basic", "bearer", "token", "digest", "negotiate", "apikey", "key"})
"""Words of a header value that are not secret on their own (``Bearer`` in ``Bearer <token>``)."""

_MIN_SECRET = 4
"""Shorter pieces are not redacted on their own (they would mangle every message)."""


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse header names and values http.client would reject at the first request.

    The error names the header but never shows its value: a token read from a file with its
    trailing newline would otherwise surface in ``Invalid header value b'Bearer ...\\n'``.

    Raises:
        ValueError: A name is not an HTTP token, or a value is not a string, holds a line
            break or another control character, or a character outside Latin-1.
    """
    for name, value in headers.items():
        if not isinstance(name, str) or not name:
            raise ValueError("header names must be non-empty strings")
        bad = next((i for i, ch in enumerate(name) if ch not in _TOKEN_CHARS), None)
        if bad is not None:
            shown = name[:bad]  # the part before the first bad character: never a value
            raise ValueError(
                f"header name {shown!r}... is not a valid HTTP header name "
                f"(character {bad + 1} is not allowed; pass the value separately)"
            )
        if not isinstance(value, str):
            raise ValueError(f"header {name!r}: the value must be a string, not {type(value).__name__}")
        for index, ch in enumerate(value):
            code = ord(ch)
            if ch in "\r\n":
                raise ValueError(
                    f"header {name!r}: the value contains a line break (character {index + 1} of "
                    f"{len(value)}); a token read from a file keeps its trailing newline: strip() it"
                )
            if (code < 32 and ch != "\t") or code == 127:
                raise ValueError(
                    f"header {name!r}: the value contains a control character (character {index + 1})"
                )
            if code > 255:
                raise ValueError(
                    f"header {name!r}: the value contains a character outside Latin-1 (character {index + 1})"
                )


def check_url(url: str) -> None:
    """Refuse a URL holding whitespace or control characters (http.client would quote it,
    secrets included, in its error).

    Raises:
        ValueError: Naming the position, never the URL.
    """
    for index, ch in enumerate(url):
        if ord(ch) <= 32 or ord(ch) == 127:
            raise ValueError(
                f"the URL contains a space or control character (character {index + 1} of {len(url)}); "
                "percent-encode it"
            )


class Redactor:
    """Replaces every form of a set of secrets in a message with ``***``.

    For each secret it knows the plain text, its pieces (the words of ``Bearer <token>``, the
    lines of a multi-line value), the escaped forms a ``repr`` of a ``str`` or ``bytes`` or a
    JSON dump writes, and the percent-encoded forms (``+`` for spaces), matched in any case,
    so ``b'Bearer tok\\n'``, ``'tok\\n'`` and ``tok%2Fx`` are all caught.
    """

    def __init__(self, secrets: set[str] | None = None) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets or ():
            self.add(secret)

    def add(self, secret: str) -> None:
        """Also redact ``secret`` (ignored when shorter than 4 characters)."""
        pieces = {secret, secret.strip()}
        pieces.update(re.split(r"[\r\n]+", secret))
        pieces.update(word for word in secret.split() if word.lower() not in _AUTH_SCHEMES)
        for piece in pieces:
            if len(piece) < _MIN_SECRET:
                continue
            self._forms.update(_forms_of(piece))
        forms = sorted((f for f in self._forms if len(f) >= _MIN_SECRET), key=len, reverse=True)
        # Case-insensitive: percent-encoding may use either case of hex, a message may
        # upper- or lower-case what it quotes.
        self._pattern = re.compile("|".join(map(re.escape, forms)), re.IGNORECASE) if forms else None

    def __call__(self, text: str) -> str:
        """``text`` with every known form of every secret replaced by ``***``."""
        pattern = self._pattern
        return pattern.sub("***", text) if pattern is not None else text

    def __bool__(self) -> bool:
        return self._pattern is not None


def _forms_of(secret: str) -> set[str]:
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]}
    forms.add(repr(secret.encode("utf-8", "backslashreplace"))[2:-1])
    with contextlib.suppress(UnicodeEncodeError):
        forms.add(repr(secret.encode("latin-1"))[2:-1])
    quote = urllib.parse.quote
    forms.update((quote(secret, safe=""), urllib.parse.quote_plus(secret), quote(secret)))
    return forms


def mask_url(url: str) -> str:
    """The URL with its password and query values replaced by ``***`` (safe to log)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{urllib.parse.quote(k)}=***" for k, _ in pairs) or "***"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


@dataclass(frozen=True, slots=True)
class Response:
    """A completed GET.

    Attributes:
        status: 200 or 304.
        body: The body (empty for 304).
        etag: The ``ETag`` header, if any.
        last_modified: The ``Last-Modified`` header, if any.
        content_type: The ``Content-Type`` header, if any.
        url: The final URL after redirects (masked).
        date: The ``Date`` header (when the server made the response), if any: with
            ``last_modified`` it tells whether the validators can miss a change made in the
            same second (see :func:`validators_are_strong`).
    """

    status: int
    body: bytes
    etag: str | None
    last_modified: str | None
    content_type: str | None
    url: str
    date: str | None = None


def validators_are_strong(response: Response) -> bool:
    """Whether the validators of a 200 response tell apart every later change of the document.

    ``Last-Modified`` has a resolution of one second, and servers build ETags from it (nginx:
    mtime and size). A document changed again within the second of its ``Last-Modified``
    keeps both, so a conditional request would get 304 for it forever. RFC 9110 §8.8.2.2: a
    ``Last-Modified`` is a strong validator only when it is at least one second before the
    response's ``Date`` (a later change then falls in a later second). Without
    ``Last-Modified`` only the ETag is left, taken as strong (a content hash); an unreadable
    or missing ``Date`` next to a ``Last-Modified`` makes them weak.
    """
    if response.last_modified is None:
        return True
    modified = _http_time(response.last_modified)
    made = _http_time(response.date)
    return modified is not None and made is not None and made - modified >= 1.0


def _http_time(value: str | None) -> float | None:
    """The Unix time of an HTTP date, or None when it is missing or unreadable."""
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form may lack the zone
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


_Addresses = list[tuple[Any, ...]]
"""What ``socket.getaddrinfo`` returns: (family, type, proto, canonname, sockaddr) tuples."""


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


class _Aborted(OSError):
    """The fetch was aborted (``Fetcher.abort`` or the deadline)."""


_HALT_POLL = 0.05
"""How often a DNS wait checks for an abort (getaddrinfo itself cannot be interrupted)."""


class _Lookup:
    """One getaddrinfo call running in its own daemon thread."""

    def __init__(self, host: str, port: int) -> None:
        self.done = threading.Event()
        self.result: _Addresses | BaseException | None = None
        threading.Thread(target=self._run, args=(host, port), name="flagkit-http-dns", daemon=True).start()

    def _run(self, host: str, port: int) -> None:
        try:
            self.result = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as exc:  # handed to the waiting thread
            self.result = exc
        self.done.set()


class _Resolver:
    """getaddrinfo with a timeout, and at most one lookup in flight per host and port.

    getaddrinfo cannot be interrupted, so a lookup runs in a daemon thread that a timed-out
    fetch abandons. The next fetch waits on that same lookup instead of starting another:
    a resolver that hangs costs one thread, not one per fetch. A lookup that has finished is
    never reused (no caching beyond the system's own).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], _Lookup] = {}

    def resolve(self, host: str, port: int, timeout: float, halt: threading.Event) -> _Addresses:
        """The addresses of ``host``; waiting ends early when ``halt`` is set (an abort).

        Raises:
            TimeoutError: No answer within ``timeout`` (the lookup goes on, for the next fetch).
            OSError: The lookup failed, or ``_Aborted``.
        """
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:  # an IP literal needs no lookup, so no thread
            return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        key = (host, port)
        with self._lock:
            lookup = self._pending.get(key)
            if lookup is None or lookup.done.is_set():
                lookup = self._pending[key] = _Lookup(host, port)
        end = time.monotonic() + timeout
        while not lookup.done.wait(min(_HALT_POLL, max(0.0, end - time.monotonic()))):
            if halt.is_set():
                raise _Aborted("fetch aborted")
            if time.monotonic() >= end:
                raise TimeoutError(f"DNS lookup of {host!r} timed out")
        with self._lock:
            if self._pending.get(key) is lookup:
                del self._pending[key]
        outcome = lookup.result
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None  # done is set after the result
        return outcome


class _Connection(http.client.HTTPConnection):
    """HTTP(S) connection to pre-resolved addresses, with TLS when a context is given."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: _Addresses,
        timeout: float,
        tls: ssl.SSLContext | None,
        halt: threading.Event,
    ) -> None:
        self.default_port = 443 if tls is not None else 80
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses
        self._tls = tls
        self._halt = halt
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
                if isinstance(exc, _Aborted) or self._halt.is_set():
                    raise _Aborted("fetch aborted") from None  # no other address after an abort
                error = exc
                continue
            self.sock = sock
            return
        raise error or OSError(f"no address for {self.host}")

    def _publish(self, sock: socket.socket) -> None:
        self.raw = sock
        # abort() sets the halt event before it looks at `raw`: checking it after publishing
        # means an abort is never missed, whichever thread gets there first.
        if self._halt.is_set():
            raise _Aborted("fetch aborted")


class Fetcher:
    """Performs guarded GETs for one URL. Safe to use from one thread at a time.

    Args:
        url: ``http://`` or ``https://`` URL (credentials in it become Basic auth).
        headers: Extra request headers; their values are treated as secrets.
        timeout: Connect and per-read timeout in seconds.
        deadline: Overall limit for one fetch, redirects included.
        max_bytes: Largest body accepted.
        ssl_context: TLS settings; default verifies certificates (with ``cafile`` if given).
        cafile: CA bundle to verify the server with.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float,
        deadline: float,
        max_bytes: int,
        ssl_context: ssl.SSLContext | None = None,
        cafile: str | None = None,
    ) -> None:
        check_url(url)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {mask_url(url)!r}")
        check_headers(headers or {})
        self._secrets: set[str] = set()
        self.headers = _merge_headers({}, headers or {})
        """The extra request headers, one entry per name whatever its case (the last wins)."""
        self._secrets.update(self.headers.values())
        if parts.username is not None or parts.password is not None:
            user = urllib.parse.unquote(parts.username or "")
            password = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            # An explicit header (in any case) wins over the URL's credentials.
            self.headers = _merge_headers({"Authorization": f"Basic {token}"}, self.headers)
            self._secrets.update(s for s in (password, token, parts.password) if s)
            host = parts.hostname + (f":{parts.port}" if parts.port else "")
            parts = parts._replace(netloc=host)
        self._secrets.update(v for _, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        raw_pairs = re.split(r"[&;]", parts.query)
        self._secrets.update(pair.split("=", 1)[1] for pair in raw_pairs if "=" in pair)  # still encoded
        self.redact = Redactor(self._secrets)
        """Replaces every form of every secret in a message with ``***``."""
        self.url = urllib.parse.urlunsplit(parts)
        self.masked_url = mask_url(url)
        self.timeout = timeout
        self.deadline = deadline
        self.max_bytes = max_bytes
        if ssl_context is None:
            ssl_context = ssl.create_default_context(cafile=cafile)
        self.ssl_context = ssl_context
        self._active: _Connection | None = None
        self._response: http.client.HTTPResponse | None = None
        self._halt = threading.Event()
        self._expired = False
        self._resolver = _Resolver()

    def abort(self) -> None:
        """Break a fetch in progress (from another thread): shut its socket down.

        Works at every stage: a DNS wait ends, a connect or TLS handshake is shut down, and
        no further address or redirect is tried.
        """
        self._halt.set()  # before looking at the socket (see _Connection._publish)
        conn = self._active
        sock = conn.raw if conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def forget_after_fork(self) -> None:
        """In a fork child: drop (never shut down) a socket the parent may still be using."""
        self._active = None
        self._response = None
        self._halt = threading.Event()
        self._resolver = _Resolver()  # the parent's lookup threads do not exist here

    def get(
        self,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        cancel: threading.Event | None = None,
    ) -> Response:
        """GET the URL with conditional headers.

        Args:
            etag: Sent as ``If-None-Match``.
            last_modified: Sent as ``If-Modified-Since``.
            cancel: The caller's stop event: when it is already set the fetch is aborted at
                once (an ``abort()`` that came before this call is not lost).

        Raises:
            SourceError: Anything that went wrong, with secrets masked.
        """
        # Per-operation timeouts bound each recv(); this timer bounds the whole exchange
        # (a server trickling headers or body a byte at a time) by shutting the socket down.
        self._halt = threading.Event()
        if cancel is not None and cancel.is_set():
            self._halt.set()
        self._expired = False
        self._deadline: _Deadline | None = None
        timer = threading.Timer(self.deadline, self._expire, args=(self._halt,))
        timer.name = "flagkit-http-deadline"
        timer.daemon = True
        timer.start()
        try:
            return self._get(etag, last_modified)
        except (SourceError, OSError, http.client.HTTPException, ValueError) as exc:
            # ssl.SSLError, socket.timeout and TimeoutError are OSErrors.
            deadline = self._deadline
            if self._expired or (isinstance(exc, TimeoutError) and deadline is not None and deadline.binding):
                detail = f"fetch took longer than the {self.deadline:g}s deadline"
            elif self._halt.is_set():
                detail = "fetch aborted"
            elif isinstance(exc, SourceError):
                raise
            elif isinstance(exc, http.client.IncompleteRead):
                detail = "IncompleteRead: connection closed before the whole body arrived"
            else:
                detail = f"{type(exc).__name__}: {exc or 'no detail'}"
        finally:
            timer.cancel()
            self._close()
        # Raised outside the except block: no chained exception keeps sockets or secrets alive.
        raise SourceError(self.redact(detail), self.masked_url)

    def _close(self) -> None:
        response, self._response = self._response, None
        conn, self._active = self._active, None
        if response is not None:
            response.close()
        if conn is not None:
            conn.close()
            if conn.raw is not None:
                conn.raw.close()

    def _expire(self, halt: threading.Event) -> None:
        if halt is self._halt:  # a late timer must not abort the next fetch
            self._expired = True
            self.abort()

    def _get(self, etag: str | None, last_modified: str | None) -> Response:
        deadline = self._deadline = _Deadline(self.deadline)
        url = self.url
        halt = self._halt
        ours = {"User-Agent": _USER_AGENT, "Accept": "application/json, application/yaml, */*"}
        if etag:
            ours["If-None-Match"] = etag
        if last_modified:
            ours["If-Modified-Since"] = last_modified
        headers = _merge_headers(ours, self.headers)  # the caller's headers win, any case
        for _ in range(_MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            tls = parts.scheme == "https"
            host = parts.hostname or ""
            port = parts.port or (443 if tls else 80)
            addresses = self._resolver.resolve(host, port, deadline.remaining(self.timeout), halt)
            conn = _Connection(
                host,
                port,
                addresses=addresses,
                timeout=deadline.remaining(self.timeout),
                tls=self.ssl_context if tls else None,
                halt=halt,
            )
            self._active = conn
            target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
            conn.request("GET", target, headers=headers)
            self._arm(conn, deadline)
            response = self._response = conn.getresponse()
            if response.status in _REDIRECTS:
                location = response.getheader("Location")
                self._close()
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
                    headers = {k: v for k, v in headers.items() if k not in self.headers}
                url = new_url
                continue
            if response.status == 304:
                return Response(304, b"", etag, last_modified, None, mask_url(url))
            if response.status != 200:
                raise SourceError(f"HTTP {response.status} {response.reason}".rstrip(), mask_url(url))
            body = self._read_body(conn, response, deadline)
            return Response(
                200,
                body,
                response.getheader("ETag"),
                response.getheader("Last-Modified"),
                response.getheader("Content-Type"),
                mask_url(url),
                response.getheader("Date"),
            )
        raise SourceError(f"more than {_MAX_REDIRECTS} redirects", self.masked_url)

    def _arm(self, conn: _Connection, deadline: _Deadline) -> None:
        """Bound the next socket operation by both the timeout and the deadline."""
        # http.client closes the socket once a response is fully read; Python 3.13 raises
        # EBADF for settimeout() on a closed socket (3.11 ignored it).
        if conn.raw is not None and conn.raw.fileno() != -1:
            conn.raw.settimeout(deadline.remaining(self.timeout))

    def _read_body(self, conn: _Connection, response: http.client.HTTPResponse, deadline: _Deadline) -> bytes:
        declared = response.getheader("Content-Length")
        length: int | None = None
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise SourceError(f"bad Content-Length {declared!r}", self.masked_url) from None
            if length > self.max_bytes:
                raise SourceError(
                    f"body is {length:,} bytes, over the limit of {self.max_bytes:,}", self.masked_url
                )
        chunks: list[bytes] = []
        total = 0
        while True:
            self._arm(conn, deadline)
            chunk = response.read1(_CHUNK)  # one recv at most: the deadline is checked per chunk
            if not chunk:
                break
            total += len(chunk)
            if total > self.max_bytes:
                raise SourceError(f"body is over the limit of {self.max_bytes:,} bytes", self.masked_url)
            chunks.append(chunk)
        if length is not None and total != length:
            raise SourceError(
                f"truncated body: got {total:,} of {length:,} bytes (connection closed early)",
                self.masked_url,
            )
        return b"".join(chunks)


def _merge_headers(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` updated with ``extra``, header names compared case-insensitively.

    HTTP header names are case-insensitive: ``{"authorization": ...}`` replaces a default
    ``Authorization`` instead of sending both. Within ``extra`` the last spelling wins.
    """
    merged: dict[str, tuple[str, str]] = {}
    for source in (base, extra):
        for name, value in source.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())


def _origin(parts: urllib.parse.SplitResult) -> tuple[str, str, int]:
    default = 443 if parts.scheme == "https" else 80
    return (parts.scheme, (parts.hostname or "").lower(), parts.port or default)
