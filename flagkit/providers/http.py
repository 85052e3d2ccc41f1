"""HttpProvider: flags from a URL, polled in a background thread.

Unchanged config costs a 304 (``If-None-Match`` / ``If-Modified-Since``). Validators that
cannot tell apart two versions written in the same second (a ``Last-Modified`` less than a
second before the response's ``Date``, and an ETag made from it, as nginx's) are not used: the
next poll fetches without conditions, and every ``full_read_interval`` a poll fetches without
conditions anyway, so no validator can hide a change for longer. Every failure
keeps the last good flags and is retried with exponential backoff and jitter. The last good
payload is written atomically to ``cache_path`` and used at start when the server cannot be
reached, so a restarting app comes up with its last known flags. No request is ever made on
the evaluation path.
"""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..document.reader import MAX_DOCUMENT_BYTES, Format, detect_format
from ..errors import ConfigError, SourceError
from ..flagset import FlagSet
from ._cache import LastGoodCache
from ._conditional import validators_are_strong
from ._fetch import StdlibTransport
from ._polling import NetworkProvider
from ._request import Target
from ._runner import Run, describe, load_failure, rollback
from ._secrets import scrub
from .base import Report
from .transport import FetchRequest, FetchResponse, Transport

__all__ = ["FetchRequest", "FetchResponse", "HttpProvider", "StdlibTransport", "Transport"]

logger = logging.getLogger("flagkit")

_Cached = tuple[FlagSet, str | None, str | None]
"""The cached flags and the validators (ETag, Last-Modified) a restart may send with them."""


class HttpProvider(NetworkProvider[Run]):
    """Flags from an HTTP(S) URL serving the flag file format (JSON or YAML).

    ``start`` never touches the network: the first fetch runs in a daemon thread
    (``flagkit-http-*``), which then polls every ``interval`` seconds.

    Args:
        url: Where the flag document is served. Credentials in the URL become Basic auth.
        interval: Seconds between polls (jittered by ±10 % so workers spread out).
        headers: Extra request headers, e.g. ``{"Authorization": "Bearer ..."}``. Their
            values are never logged, shown in ``repr`` or sent to another origin after a
            redirect.
        timeout: Connect and per-read timeout, seconds.
        deadline: Overall limit for one fetch (DNS, connect, TLS, redirects and body). A
            custom ``transport`` is not interrupted, but its answer after it is refused.
        max_bytes: Largest body accepted (default 10 MiB).
        cache_path: File where the last good payload is kept (written atomically) and read
            at start if the first fetch fails.
        cafile: CA bundle for verifying the server (default: the system store).
        ssl_context: Full TLS control (takes precedence over ``cafile``).
        proxy: ``True`` (default): the proxy named by ``HTTPS_PROXY``/``HTTP_PROXY`` for the
            URL's scheme (lower-case names too) unless ``NO_PROXY`` matches the host, by
            urllib's rules, read when the provider is made. ``False``: no proxy, whatever the
            environment. A URL ``http://[user:password@]host:port``: that proxy for every
            request. Proxy credentials are secrets like the URL's.
        transport: Makes the GETs instead of the default :class:`StdlibTransport` (see
            :mod:`flagkit.providers.transport`); ``cafile``, ``ssl_context`` and ``proxy``
            then belong to it. The provider still applies ``max_bytes``, ``deadline`` (to the
            answer) and its status rules, and masks its secrets in what the transport raises.
        fmt: ``"json"`` or ``"yaml"``; default from the Content-Type or the URL.
        backoff: ``(first, max)`` retry delays in seconds after failures; each retry doubles
            the delay, with jitter, up to ``max``.
        allow_rollback: Accept a document whose ``version`` is lower than the one served
            (or cached); by default it is refused and the served flags stay.
        full_read_interval: Longest time (seconds) between two fetches without conditional
            headers: however the server's ``ETag`` or ``Last-Modified`` is made, a change it
            fails to show is served within this time (plus one ``interval``). An unchanged
            body costs its transfer only (its hash matches). Validators that are weak by
            RFC 9110 (a ``Last-Modified`` within a second of the response's ``Date``) are
            never used, so a same-second edit is served at the next poll.
        name: Label in ``status()``; default ``http:<url with secrets masked>``.

    Raises:
        ValueError: ``url`` is not an http(s) URL, a number is out of range, ``proxy`` is
            not an ``http://`` URL, or TLS or proxy options come with a ``transport``.
    """

    def __init__(
        self,
        url: str,
        *,
        interval: float = 30.0,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        deadline: float = 15.0,
        max_bytes: int = MAX_DOCUMENT_BYTES,
        cache_path: str | os.PathLike[str] | None = None,
        cafile: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        fmt: Format | None = None,
        backoff: tuple[float, float] = (1.0, 60.0),
        allow_rollback: bool = False,
        full_read_interval: float = 300.0,
        name: str | None = None,
        proxy: str | bool = True,
        transport: Transport | None = None,
    ) -> None:
        if min(interval, timeout, deadline, max_bytes, full_read_interval) <= 0:
            raise ValueError("interval, timeout, deadline, max_bytes and full_read_interval must be positive")
        self._target = Target(url, headers)
        self._default: StdlibTransport | None = None
        if transport is None:
            transport = self._default = StdlibTransport(ssl_context=ssl_context, cafile=cafile, proxy=proxy)
            for secret in self._default.proxy_secrets():
                self._target.redact.add(secret)
        elif cafile is not None or ssl_context is not None or proxy is not True:
            raise ValueError("cafile, ssl_context and proxy configure the default transport, not yours")
        elif not isinstance(transport, Transport) and not callable(getattr(transport, "fetch", None)):
            raise TypeError(f"transport must have a fetch(request) method, got {type(transport).__name__}")
        self._transport = transport
        super().__init__(name or f"http:{self._target.masked_url}")
        self.url = self._target.masked_url
        """The URL with secrets masked (the real one is kept private)."""
        self.timeout = timeout
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.interval = interval
        self.fmt = fmt
        self.cache_path = Path(cache_path) if cache_path is not None else None
        # The cache is keyed by the real URL (credentials and query values included): URLs
        # that mask alike (``?env=staging`` / ``?env=prod``) must not share a cache.
        self._cache = (
            LastGoodCache(self.cache_path, url, self.url, self._target.redact) if self.cache_path else None
        )
        self.backoff = backoff
        self.allow_rollback = allow_rollback
        self.full_read_interval = full_read_interval
        self._etag: str | None = None
        self._last_modified: str | None = None
        """The validators sent with the next poll: only strong ones are kept."""
        self._cache_strong = False
        self._cache_saved_at: float | None = None
        """When the cache read at start was written: the last successful fetch it records."""
        """Whether the cache file holds strong validators (else a same body rewrites it)."""
        self._full_read_at = -float("inf")
        """Monotonic time of the last 200 (a full read): ``full_read_interval`` counts from it."""
        self._good: FlagSet | None = None
        self._good_digest: bytes | None = None
        self._bad_digest: bytes | None = None
        self._healthy = False
        self._failures = 0
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        headers = ", ".join(f"{key}: ***" for key in self._target.headers)
        return f"<HttpProvider {self.url} interval={self.interval:g}s headers=[{headers}]>"

    # --- provider protocol ------------------------------------------------------------
    # start/stop/after_fork only delegate: they are overridden for their docstrings, which
    # say what this provider's thread does (the API reference shows them per provider).

    def start(self, report: Report, *, defer: bool = False) -> None:
        """Start the polling thread; returns at once.

        Started again after :meth:`stop`, the new thread first waits for the previous one
        to end (it is told to stop, and its fetch is aborted), so there is never more than
        one poller.
        """
        super().start(report, defer=defer)

    def stop(self) -> None:
        """Stop polling and abort a fetch in progress; idempotent, bounded (about 1 s)."""
        super().stop()

    def after_fork(self, report: Report) -> None:
        """Restart polling in a fork child; the inherited flags and ETag are kept."""
        super().after_fork(report)

    # --- run lifecycle hooks (see ThreadedProvider) -----------------------------------

    _kind = "http"

    def _new_run(self, report: Report) -> Run:
        return Run(report)

    def _thread_label(self) -> str:
        return self.url

    def _crash_subject(self) -> str:
        return f"HTTP poller for {self.url}"

    def _abort(self, run: Run) -> None:
        # The default's breaks a DNS wait, connect, TLS handshake or body read; abort() is
        # optional for a duck-typed transport (fetch alone is the contract).
        abort = getattr(self._transport, "abort", None)
        if callable(abort):
            abort()

    def _redact(self, text: str) -> str:
        return self._target.redact(text)

    def _scrub(self, error: BaseException) -> BaseException:
        return scrub(error, self._target.redact, self.url)

    def _after_fault(self, run: Run) -> None:
        self._healthy = False  # the next good answer (a 304 too) is reported again

    def _forget_dead_run(self) -> None:
        self._lock = threading.RLock()

    def _forget_after_fork(self) -> None:
        # The default transport notices the fork itself (it drops the parent's socket).
        self._lock = threading.RLock()  # another thread may have held it at fork time

    # --- polling ----------------------------------------------------------------------

    def _loop(self, run: Run) -> None:
        # The transport is used by one thread at a time: the base class has waited for a
        # previous run that outlived stop()'s join.
        cached = self._read_cache() if self._good is None else None
        if cached is not None:
            # Ask the server whether the cached version is still current (the cache keeps
            # strong validators only); the full-read interval counts from here.
            self._etag, self._last_modified = cached[1], cached[2]
            self._full_read_at = time.monotonic()
        fallback = None
        if cached is not None:
            # A server that hangs must not keep the app from its cached flags for the
            # whole deadline: after `timeout` seconds without an answer, serve the cache.
            # A one-shot Timer, not a _workers.Worker: cancelled below once the first poll ends.
            fallback = threading.Timer(self.timeout, self._cache_fallback, args=(run, cached))
            fallback.name = "flagkit-http-cache-fallback"
            fallback.daemon = True
            fallback.start()
        while not run.stopping.is_set():
            ok = self._poll_once(run, cached)
            if fallback is not None:
                fallback.cancel()
                fallback = None
            cached = None
            if self._wait(run, self._next_delay(ok)):
                return

    def _next_delay(self, ok: bool) -> float:
        return self._jittered(self.interval) if ok else self._retry_delay(self._failures)

    def _cache_fallback(self, run: Run, cached: _Cached) -> None:
        try:
            self._serve_cache_late(run, cached)
        except Exception as exc:  # on a timer thread: log it, the poller goes on
            detail = self._redact(describe(exc))
            logger.error("flagkit: serving the cache of %s failed: %s", self.name, detail)

    def _serve_cache_late(self, run: Run, cached: _Cached) -> None:
        with self._lock:
            if self._good is not None or run.stopping.is_set():
                return
            self._use_cache(run, cached, healthy=False)
            message = f"no answer within {self.timeout:g}s; serving the cached flags"
            self._emit(run, SourceError(message, self.url))

    def _poll_once(self, run: Run, cached: _Cached | None) -> bool:
        """One fetch. Returns False when it failed at the transport or HTTP level."""
        etag, last_modified = self._etag, self._last_modified
        if time.monotonic() - self._full_read_at >= self.full_read_interval:
            etag = last_modified = None  # no validator may hide a change for longer
        request = self._target.request(
            etag=etag,
            last_modified=last_modified,
            timeout=self.timeout,
            deadline=self.deadline,
            max_bytes=self.max_bytes,
            cancel=run.stopping,
        )
        started = time.monotonic()
        response: FetchResponse | SourceError
        try:
            response = self._target.accept(request, self._transport.fetch(request), started)
        except SourceError as exc:
            response = exc
        except Exception as exc:  # the default maps every known failure; anything else too
            # A custom transport's errors are its normal failures; the default's are bugs.
            detail = describe(exc) if self._default is None else f"internal error: {describe(exc)}"
            response = SourceError(self._redact(detail), self.url)
        with self._lock:  # the cache fallback timer may run concurrently
            return self._handle(run, response, cached)

    def _handle(
        self,
        run: Run,
        response: FetchResponse | SourceError,
        cached: _Cached | None,
    ) -> bool:
        if isinstance(response, SourceError):
            exc = response
            if run.stopping.is_set():
                return True
            self._failures += 1
            self._healthy = False
            if cached is not None and self._good is None:
                self._use_cache(run, cached, healthy=False)
            self._emit(run, exc)
            return False
        self._failures = 0
        if response.status == 304:
            if self._good is None and cached is not None:
                self._use_cache(run, cached, healthy=True)
            elif not self._healthy and self._good is not None:
                self._healthy = True
                self._emit(run, self._good)  # clears the error in status()
            if self._healthy:
                self._confirm(run)  # the server says what we serve is current
            return True
        self._full_read_at = time.monotonic()
        problem = self._accept(run, response, cached[0] if cached is not None else None)
        if problem is not None:
            if cached is not None and self._good is None:
                self._use_cache(run, cached, healthy=False)
            self._emit(run, problem)
        return True

    def _accept(
        self, run: Run, response: FetchResponse, cached: FlagSet | None
    ) -> ConfigError | SourceError | None:
        """Take a 200 response: report new flags, or return the problem with them.

        An empty document (empty body, ``null``, only comments) is a ``ConfigError`` from
        ``FlagSet.from_bytes`` like any other bad document: the last good flags stay.
        """
        digest = hashlib.sha256(response.body).digest()
        if digest == self._good_digest and self._good is not None:
            self._remember_validators(response)
            if (self._etag is not None or self._last_modified is not None) and not self._cache_strong:
                self._write_cache(response)  # the same body, now with validators a restart may send
            if not self._healthy:
                self._healthy = True
                self._emit(run, self._good)
            self._confirm(run)
            return None
        if digest == self._bad_digest:
            return None  # the same bad document: already reported
        try:
            flagset = FlagSet.from_bytes(
                response.body,
                source=self.url,
                fmt=self._format(response.header("Content-Type")),
                max_bytes=self.max_bytes,
                # The content's hash, never the ETag: an ETag made of mtime and size is the
                # same for two documents written in one second, and status().version (the
                # replicas' drift alert) must tell them apart. Same label as file and Redis.
                version=digest.hex()[:16],
            )
        except Exception as exc:  # ConfigError, or whatever else the loader raised about it
            self._bad_digest = digest
            self._healthy = False
            return load_failure(exc, self.url)
        refused = None if self.allow_rollback else rollback(self._good or cached, flagset, self.url)
        if refused is not None:
            self._bad_digest = digest
            self._healthy = False
            return refused
        self._good, self._good_digest, self._bad_digest, self._healthy = flagset, digest, None, True
        self._remember_validators(response)
        self._emit(run, flagset)
        self._confirm(run)
        self._write_cache(response)
        return None

    def _remember_validators(self, response: FetchResponse) -> None:
        """Keep the response's validators for the next poll, unless they are weak.

        Weak validators (see :func:`validators_are_strong`) would answer 304 for a change made
        in the same second as this response: the next poll asks without conditions instead.
        """
        if validators_are_strong(response):
            self._etag, self._last_modified = response.header("ETag"), response.header("Last-Modified")
        else:
            self._etag = self._last_modified = None

    def _format(self, content_type: str | None) -> Format:
        if self.fmt is not None:
            return self.fmt
        kind = (content_type or "").split(";", 1)[0].strip().lower()
        if kind.endswith("json"):
            return "json"
        if "yaml" in kind:
            return "yaml"
        return detect_format(self.url.split("?", 1)[0], default="yaml")

    # --- cache ------------------------------------------------------------------------

    def _use_cache(self, run: Run, cached: _Cached, *, healthy: bool) -> None:
        flagset, self._etag, self._last_modified = cached
        self._good = flagset
        self._healthy = healthy
        logger.info("flagkit: %s serves its cached flags from %s", self.name, self.cache_path)
        if not healthy and self.fresh_at is None:  # no check succeeded: as old as the cache
            self.fresh_at = self._cache_saved_at
        self._emit(run, flagset)
        if healthy:  # the server confirmed the cached version (a 304)
            self._confirm(run)

    def _read_cache(self) -> _Cached | None:
        """The cached payload, or None if there is none, it is for another URL or it is bad."""
        if self._cache is None:
            return None
        found = self._cache.read(self._load_cached)
        if found is None:
            return None
        self._good_digest = found.digest
        self._cache_saved_at = found.saved_at
        envelope = found.envelope
        if envelope.get("strong") is not True:  # weak (or a cache from before they were told apart)
            return found.flagset, None, None
        self._cache_strong = True
        return found.flagset, envelope.get("etag"), envelope.get("last_modified")

    def _load_cached(self, body: bytes, envelope: Mapping[str, Any]) -> FlagSet:
        fmt = envelope.get("format")
        return FlagSet.from_bytes(
            body,
            source=f"{self.cache_path} (cache of {self.url})",
            fmt=fmt if fmt in ("json", "yaml") else None,
            max_bytes=self.max_bytes,
        )

    def _write_cache(self, response: FetchResponse) -> None:
        if self._cache is None:
            return
        strong = validators_are_strong(response)  # may the next start send them?
        fields = {
            "etag": response.header("ETag"),
            "last_modified": response.header("Last-Modified"),
            "strong": strong,
            "format": self._format(response.header("Content-Type")),
        }
        if self._cache.write(response.body, fields):
            self._cache_strong = strong
