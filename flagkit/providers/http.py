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

import contextlib
import hashlib
import json
import logging
import os
import random
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..document.reader import MAX_DOCUMENT_BYTES, Format, detect_format
from ..errors import ConfigError, ConfigIssue, SourceError
from ..flagset import FlagSet
from ._fetch import Fetcher, Response, validators_are_strong
from ._runner import Run, ThreadedProvider, describe, load_failure, rollback
from .base import Report

_JITTER = random.SystemRandom()
"""Jitter from the OS: it never touches the app's global random state (nor depends on its seed),
and forked workers do not share a sequence."""

__all__ = ["HttpProvider"]

logger = logging.getLogger("flagkit")

_CACHE_FORMAT = 1


class HttpProvider(ThreadedProvider[Run]):
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
        deadline: Overall limit for one fetch (DNS, connect, TLS, redirects and body).
        max_bytes: Largest body accepted (default 10 MiB).
        cache_path: File where the last good payload is kept (written atomically) and read
            at start if the first fetch fails.
        cafile: CA bundle for verifying the server (default: the system store).
        ssl_context: Full TLS control (takes precedence over ``cafile``).
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
        ValueError: ``url`` is not an http(s) URL, or a number is out of range.
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
    ) -> None:
        if min(interval, timeout, deadline, max_bytes, full_read_interval) <= 0:
            raise ValueError("interval, timeout, deadline, max_bytes and full_read_interval must be positive")
        self._fetcher = Fetcher(
            url,
            headers=headers,
            timeout=timeout,
            deadline=deadline,
            max_bytes=max_bytes,
            ssl_context=ssl_context,
            cafile=cafile,
        )
        super().__init__(name or f"http:{self._fetcher.masked_url}")
        self.url = self._fetcher.masked_url
        """The URL with secrets masked (the real one is kept private)."""
        self._url_key = hashlib.sha256(url.encode()).hexdigest()
        """Identifies the real URL (credentials and query values included) in the cache:
        URLs that mask alike (``?env=staging`` / ``?env=prod``) must not share a cache."""
        self.interval = interval
        self.fmt = fmt
        self.cache_path = Path(cache_path) if cache_path is not None else None
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
        headers = ", ".join(f"{key}: ***" for key in self._fetcher.headers)
        return f"<HttpProvider {self.url} interval={self.interval:g}s headers=[{headers}]>"

    # --- provider protocol ------------------------------------------------------------

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

    def refresh(self) -> None:
        """Ask the polling thread to fetch now instead of waiting for the interval."""
        run = self._run_state
        if run is not None:
            run.wake.set()

    # --- run lifecycle hooks (see ThreadedProvider) -----------------------------------

    _kind = "http"

    def _new_run(self, report: Report) -> Run:
        return Run(report)

    def _thread_label(self) -> str:
        return self.url

    def _crash_subject(self) -> str:
        return f"HTTP poller for {self.url}"

    def _on_start(self, run: Run) -> None:
        if self._good is not None:  # started again: serve what we had while re-polling
            self._healthy = True
            run.report(self._good)

    def _abort(self, run: Run) -> None:
        self._fetcher.abort()  # DNS wait, connect, TLS handshake or body read

    def _redact(self, text: str) -> str:
        return self._fetcher.redact(text)

    def _scrub(self, error: BaseException) -> BaseException:
        return scrub(error, self._fetcher.redact, self.url)

    def _after_fault(self, run: Run) -> None:
        self._healthy = False  # the next good answer (a 304 too) is reported again

    def _forget_dead_run(self) -> None:
        self._lock = threading.RLock()

    def _forget_after_fork(self) -> None:
        self._fetcher.forget_after_fork()
        self._lock = threading.RLock()  # another thread may have held it at fork time

    # --- polling ----------------------------------------------------------------------

    def _loop(self, run: Run) -> None:
        # The fetcher is used by one thread at a time: the base class has waited for a
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
            fallback = threading.Timer(self._fetcher.timeout, self._cache_fallback, args=(run, cached))
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

    @staticmethod
    def _wait(run: Run, seconds: float) -> bool:
        """Sleep until the next poll (or a refresh); True when stopping."""
        run.wake.wait(seconds)  # stop() and refresh() set it
        run.wake.clear()
        return run.stopping.is_set()

    def _next_delay(self, ok: bool) -> float:
        if ok:
            return self.interval * _JITTER.uniform(0.9, 1.1)  # jitter spreads workers' polls
        first, cap = self.backoff
        delay = min(cap, first * 2.0 ** min(self._failures - 1, 30))
        return delay * _JITTER.uniform(0.5, 1.0)  # "equal jitter": between half and all of it

    def _cache_fallback(self, run: Run, cached: tuple[FlagSet, str | None, str | None]) -> None:
        try:
            self._serve_cache_late(run, cached)
        except Exception as exc:  # on a timer thread: log it, the poller goes on
            detail = self._redact(describe(exc))
            logger.error("flagkit: serving the cache of %s failed: %s", self.name, detail)

    def _serve_cache_late(self, run: Run, cached: tuple[FlagSet, str | None, str | None]) -> None:
        with self._lock:
            if self._good is not None or run.stopping.is_set():
                return
            self._use_cache(run, cached, healthy=False)
            timeout = self._fetcher.timeout
            self._emit(run, SourceError(f"no answer within {timeout:g}s; serving the cached flags", self.url))

    def _poll_once(self, run: Run, cached: tuple[FlagSet, str | None, str | None] | None) -> bool:
        """One fetch. Returns False when it failed at the transport or HTTP level."""
        etag, last_modified = self._etag, self._last_modified
        if time.monotonic() - self._full_read_at >= self.full_read_interval:
            etag = last_modified = None  # no validator may hide a change for longer
        try:
            response: Response | SourceError = self._fetcher.get(
                etag=etag, last_modified=last_modified, cancel=run.stopping
            )
        except SourceError as exc:
            response = exc
        except Exception as exc:  # the fetcher maps every known failure; anything else too
            response = SourceError(self._redact(f"internal error: {describe(exc)}"), self.url)
        with self._lock:  # the cache fallback timer may run concurrently
            return self._handle(run, response, cached)

    def _handle(
        self,
        run: Run,
        response: Response | SourceError,
        cached: tuple[FlagSet, str | None, str | None] | None,
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
        self, run: Run, response: Response, cached: FlagSet | None
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
                fmt=self._format(response.content_type),
                max_bytes=self._fetcher.max_bytes,
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

    def _remember_validators(self, response: Response) -> None:
        """Keep the response's validators for the next poll, unless they are weak.

        Weak validators (see :func:`validators_are_strong`) would answer 304 for a change made
        in the same second as this response: the next poll asks without conditions instead.
        """
        if validators_are_strong(response):
            self._etag, self._last_modified = response.etag, response.last_modified
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

    def _use_cache(self, run: Run, cached: tuple[FlagSet, str | None, str | None], *, healthy: bool) -> None:
        flagset, self._etag, self._last_modified = cached
        self._good = flagset
        self._healthy = healthy
        logger.info("flagkit: %s serves its cached flags from %s", self.name, self.cache_path)
        if not healthy and self.fresh_at is None:  # no check succeeded: as old as the cache
            self.fresh_at = self._cache_saved_at
        self._emit(run, flagset)
        if healthy:  # the server confirmed the cached version (a 304)
            self._confirm(run)

    def _read_cache(self) -> tuple[FlagSet, str | None, str | None] | None:
        """The cached payload, or None if there is none, it is for another URL or it is bad."""
        path = self.cache_path
        if path is None:
            return None
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("flagkit: cannot read the cache %s: %s", path, exc.strerror or exc)
            return None
        try:
            envelope: Any = json.loads(raw)
            if envelope.get("flagkit_cache") != _CACHE_FORMAT or envelope.get("url_sha256") != self._url_key:
                return None  # another URL's cache (maybe one that masks alike), or an old one
            body = str(envelope["body"]).encode()
            fmt = envelope.get("format")
            flagset = FlagSet.from_bytes(
                body,
                source=f"{path} (cache of {self.url})",
                fmt=fmt if fmt in ("json", "yaml") else None,
                max_bytes=self._fetcher.max_bytes,
            )
        except Exception as exc:  # a corrupt or foreign cache, or a loader failure: no cache
            logger.warning("flagkit: ignoring the unreadable cache %s: %s", path, describe(exc))
            return None
        self._good_digest = hashlib.sha256(body).digest()
        self._cache_saved_at = _saved_at(envelope)
        if envelope.get("strong") is not True:  # weak (or a cache from before they were told apart)
            return flagset, None, None
        self._cache_strong = True
        return flagset, envelope.get("etag"), envelope.get("last_modified")

    def _write_cache(self, response: Response) -> None:
        path = self.cache_path
        if path is None:
            return
        try:
            text = response.body.decode("utf-8")
        except UnicodeDecodeError:
            logger.warning("flagkit: not caching %s: the body is not UTF-8", self.url)
            return
        envelope = {
            "flagkit_cache": _CACHE_FORMAT,
            "url": self.url,  # masked, for humans; the match is on url_sha256
            "url_sha256": self._url_key,
            "etag": response.etag,
            "last_modified": response.last_modified,
            "strong": validators_are_strong(response),  # may the next start send them?
            "format": self._format(response.content_type),
            "saved_at": time.time(),
            "body": text,
        }
        try:
            atomic_write(path, json.dumps(envelope, allow_nan=False).encode())
            self._cache_strong = bool(envelope["strong"])
        except OSError as exc:
            logger.warning("flagkit: cannot write the cache %s: %s", path, exc.strerror or exc)
        except Exception as exc:  # never let the cache end the poller
            logger.warning("flagkit: cannot write the cache %s: %s", path, describe(exc))


def scrub(error: BaseException, redact: Callable[[str], str], source: str) -> BaseException:
    """``error`` if no form of a secret shows in it (its text, repr, args or the exceptions it
    chains to), else a clean copy: a ``ConfigError`` with redacted issues, or a
    ``SourceError`` with the redacted message. The copy chains to nothing."""
    texts: list[str] = []
    link: BaseException | None = error
    while link is not None and len(texts) < 50:
        texts += [str(link), repr(link), *map(repr, link.args)]
        if isinstance(link, ConfigError):
            texts += [repr(issue) for issue in link.issues]
        link = link.__cause__ or link.__context__
    if all(redact(text) == text for text in texts):
        return error
    if isinstance(error, ConfigError):
        issues = [
            ConfigIssue(
                redact(issue.message),
                tuple(redact(part) if isinstance(part, str) else part for part in issue.path),
                issue.source,
                issue.line,
            )
            for issue in error.issues
        ]
        return ConfigError(issues, error.source)
    clean = SourceError(redact(str(error)))
    clean.source = source
    return clean


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``.

    Readers see the old file or the new one, never a partial write; the file is private
    (mode 0600) because flag payloads may be internal.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _saved_at(envelope: Any) -> float | None:
    """The ``saved_at`` of a cache envelope, if it is a plausible Unix time."""
    value = envelope.get("saved_at")
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < time.time() + 60:
        return float(value)
    return None
