"""RedisProvider: flags from a Redis key, pushed to every process through pub/sub.

The wire contract (``flagkit publish`` follows it; any publisher may):

* ``KEY`` holds the flag document (YAML or JSON bytes, the flag file format);
* ``KEY:version`` holds its version label: the first 16 hex digits of the document's SHA-256
  (the same label :meth:`FlagSet.from_bytes` gives, so ``status()`` shows what was published);
* both are written in one ``MULTI``/``EXEC``, and the label is then published on ``CHANNEL``
  (default ``KEY:changed``).

A process subscribes first and then reads the key (so no change can fall between the two),
reloads when a message names a label it does not serve, and polls ``KEY:version`` every
``poll_interval`` seconds (one ``GET`` of a 16-byte value) for a message it missed. A
publisher that only ``SET``\\ s the key (no version key) is still seen: the poll then reads
the document and compares its hash. A label that is not the hash of the document read with
it (a plain ``SET`` of the key left an older label behind) is not trusted: polls read the
document until the label matches again. Every ``full_read_interval`` a poll reads the
document whatever the label says, so no label can hide a change for longer. Optionally
Redis keyspace notifications on ``KEY`` count as messages too.

A lost connection is retried with exponential backoff and jitter; after a reconnect the
process re-subscribes and re-reads, so a change published while it was away is picked up at
once. Nothing served changes during an outage: the last good flags stay, and the last good
document is kept atomically in ``cache_path`` for a restart while Redis is down.

redis-py is imported when a provider starts, never by ``import flagkit``
(``pip install 'pyflagkit[redis]'``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..document.reader import MAX_DOCUMENT_BYTES, Format
from ..errors import ConfigError, SourceError
from ..flagset import FlagSet
from ._cache import LastGoodCache
from ._polling import NetworkProvider
from ._redis_wire import (
    connect,
    default_channel,
    default_version_key,
    import_redis,
    sniff_format,
    url_secrets,
    version_label,
)
from ._runner import Run, describe, load_failure, rollback
from ._secrets import Redactor, mask_url, scrub
from .base import Report

if TYPE_CHECKING:  # redis-py is an optional extra, imported only when a provider runs
    from redis import Redis
    from redis.client import PubSub

__all__ = ["RedisProvider"]

logger = logging.getLogger("flagkit")

_SLICE = 0.25
"""Longest a wait for a message blocks before the thread checks its stop and wake events."""

_SCHEMES = ("redis", "rediss", "unix")


class _Run(Run):
    __slots__ = ("failures",)

    def __init__(self, report: Report) -> None:
        super().__init__(report)
        self.failures = 0


class RedisProvider(NetworkProvider[_Run]):
    """Flags from a Redis key, with changes pushed through pub/sub.

    ``start`` never touches the network: a daemon thread (``flagkit-redis-*``) connects,
    subscribes, reads the key, and then waits for messages, polling the version key every
    ``poll_interval`` seconds in case one was missed.

    Args:
        url: ``redis://[user:password@]host[:port][/db]``, ``rediss://`` (TLS, certificates
            verified) or ``unix://path``. The password never appears in ``repr``, logs,
            errors or ``status()``.
        key: The key holding the flag document.
        channel: The pub/sub channel announcing new versions (default ``KEY:changed``).
        version_key: The key holding the version label (default ``KEY:version``).
        keyspace_notifications: Also reload on Redis keyspace notifications for ``key``
            (the server needs ``notify-keyspace-events`` with ``K`` and ``$`` or ``A``).
        poll_interval: Seconds between safety polls (jittered by ±10 %).
        timeout: Connect and command timeout, seconds.
        backoff: ``(first, max)`` reconnect delays in seconds; each failure doubles the
            delay, with jitter, up to ``max``.
        max_bytes: Largest document accepted (default 10 MiB).
        cache_path: File where the last good document is kept (written atomically) and read
            at start if Redis cannot be reached.
        fmt: ``"json"`` or ``"yaml"``; default: JSON when the document starts with ``{``.
        allow_rollback: Accept a document whose top-level ``version`` is lower than the one
            served; by default it is refused and the served flags stay.
        full_read_interval: Longest time (seconds) between two reads of the document itself:
            a change the version label does not show (a plain ``SET`` of the key that left
            the previous label) is served within this time plus one ``poll_interval``.
        name: Label in ``status()``; default ``redis:<url with password masked>/<key>``.

    Raises:
        ValueError: ``url`` is not a Redis URL, ``key`` is empty, or a number is out of range.
    """

    def __init__(
        self,
        url: str,
        *,
        key: str,
        channel: str | None = None,
        version_key: str | None = None,
        keyspace_notifications: bool = False,
        poll_interval: float = 30.0,
        timeout: float = 5.0,
        backoff: tuple[float, float] = (0.5, 30.0),
        max_bytes: int = MAX_DOCUMENT_BYTES,
        cache_path: str | os.PathLike[str] | None = None,
        fmt: Format | None = None,
        allow_rollback: bool = False,
        full_read_interval: float = 300.0,
        name: str | None = None,
    ) -> None:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in _SCHEMES:
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {mask_url(url)!r}")
        if not key:
            raise ValueError("key must not be empty")
        if (
            min(poll_interval, timeout, max_bytes, full_read_interval) <= 0
            or not 0 < backoff[0] <= backoff[1]
        ):
            raise ValueError(
                "poll_interval, timeout, max_bytes, full_read_interval and backoff must be positive"
            )
        self._url = url
        # Secrets of 3 characters are masked too (a short Redis password is still one).
        self._secrets = Redactor(url_secrets(url), min_length=3)
        self.url = mask_url(url)
        """The URL with its password masked (the real one is kept private)."""
        super().__init__(name or f"redis:{self.url}/{key}")
        self.key = key
        self.channel = channel or default_channel(key)
        self.version_key = version_key or default_version_key(key)
        self.keyspace_notifications = keyspace_notifications
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.backoff = backoff
        self.max_bytes = max_bytes
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.fmt = fmt
        self.allow_rollback = allow_rollback
        self.full_read_interval = full_read_interval
        self._full_read_at = -float("inf")
        """Monotonic time the document was last read (``full_read_interval`` counts from it)."""
        # The cache is keyed by the real URL and the key: sources that mask alike never share it.
        self._cache = (
            LastGoodCache(self.cache_path, f"{url}\n{key}", self.name, self._secrets)
            if self.cache_path is not None
            else None
        )
        self._good: FlagSet | None = None
        self._good_digest: bytes | None = None
        self._bad_digest: bytes | None = None
        self._cache_saved_at: float | None = None
        """When the cache read at start was written: the last successful read it records."""
        self._seen: bytes | None = None
        """The version label of the last document read (good or bad) when it is that
        document's hash: a message or poll naming it needs no read."""
        self._healthy = False

    def __repr__(self) -> str:
        return f"<RedisProvider {self.url} key={self.key!r} channel={self.channel!r}>"

    # --- provider protocol ------------------------------------------------------------
    # start/stop/after_fork only delegate: they are overridden for their docstrings, which
    # say what this provider's thread does (the API reference shows them per provider).

    def start(self, report: Report, *, defer: bool = False) -> None:
        """Start the subscriber thread; returns at once (redis-py is imported here)."""
        import_redis()
        super().start(report, defer=defer)

    def stop(self) -> None:
        """Stop the subscriber; idempotent, bounded (about a second)."""
        super().stop()

    def after_fork(self, report: Report) -> None:
        """Reconnect in a fork child with new sockets; the inherited flags are kept."""
        super().after_fork(report)

    # --- run lifecycle hooks (see ThreadedProvider) -----------------------------------

    _kind = "redis"

    def _new_run(self, report: Report) -> _Run:
        return _Run(report)

    def _thread_label(self) -> str:
        return self.key

    def _crash_subject(self) -> str:
        return f"Redis subscriber for {self.name}"

    def _redact(self, text: str) -> str:
        return self._secrets(text)

    def _scrub(self, error: BaseException) -> BaseException:
        return scrub(error, self._secrets, self.name)

    def _after_fault(self, run: _Run) -> None:
        self._healthy = False
        self._seen = None  # the next round re-reads (and re-reports) the key

    # The parent's sockets stay the parent's: each connection is made inside the run's
    # thread and dies with it, so a fork child (whose new run connects anew) holds none.

    # --- the subscriber ---------------------------------------------------------------

    def _loop(self, run: _Run) -> None:
        cached = self._read_cache() if self._good is None else None
        while not run.stopping.is_set():
            try:
                self._session(run)
            except Exception as exc:  # redis-py's errors, OSError: the connection is gone
                if run.stopping.is_set():
                    return
                run.failures += 1
                self._healthy = False
                if cached is not None and self._good is None:
                    self._use_cache(run, cached)
                cached = None
                self._emit(run, SourceError(self._redact(describe(exc)), self.name))
            if self._wait(run, self._retry_delay(run.failures)):
                return

    def _session(self, run: _Run) -> None:
        """One connection: subscribe, read, then serve messages and polls until it breaks."""
        client = connect(self._url, self.timeout)
        pubsub: PubSub | None = None
        try:
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            channels = [self.channel]
            if self.keyspace_notifications:
                db = client.connection_pool.connection_kwargs.get("db", 0)
                channels.append(f"__keyspace@{db}__:{self.key}")
            pubsub.subscribe(*channels)  # before the read: a change after it is a message
            self._sync(run, client, None)
            run.failures = 0
            next_poll = self._next_poll()
            while not run.stopping.is_set():
                message = pubsub.get_message(timeout=_SLICE)
                if run.stopping.is_set():
                    return
                if message is not None and message.get("type") == "message":
                    data = message.get("data")
                    if message.get("channel") == self.channel.encode() and isinstance(data, bytes):
                        self._sync(run, client, data)
                    else:  # a keyspace event: the key was written, maybe without its label
                        self._sync(run, client, None, force=True)
                    next_poll = self._next_poll()
                elif run.wake.is_set() or time.monotonic() >= next_poll:
                    run.wake.clear()
                    self._sync(run, client, None)
                    next_poll = self._next_poll()
        finally:
            _close(pubsub, client)

    def _sync(self, run: _Run, client: Redis, hint: bytes | None, *, force: bool = False) -> None:
        """Read the version (or take the message's) and the document when it is new, or when
        ``full_read_interval`` has passed since it was last read."""
        if time.monotonic() - self._full_read_at < self.full_read_interval and not force:
            label = hint if hint is not None else client.get(self.version_key)
            if label is not None and label == self._seen:
                self._mark_healthy(run)  # serving it already (or it is the bad one, reported)
                return
        with client.pipeline(transaction=True) as pipe:  # the document and its label together
            pipe.exists(self.key)
            pipe.getrange(self.key, 0, self.max_bytes)  # at most max_bytes + 1 bytes
            pipe.get(self.version_key)
            exists, body, label = pipe.execute()
        self._full_read_at = time.monotonic()
        if not exists:
            self._healthy, self._seen = False, None
            self._emit(run, SourceError(f"the key {self.key!r} does not exist", self.name))
            return
        body = bytes(body)
        text = label.decode("ascii", "replace") if label else None
        if text is not None and text != version_label(body):
            text = None  # a label left behind by a plain SET of the key: it names another document
        self._seen = label if text is not None else None  # only a true label may skip reads
        self._accept(run, body, text)

    def _accept(self, run: _Run, body: bytes, label: str | None) -> None:
        digest = hashlib.sha256(body).digest()
        if digest == self._good_digest and self._good is not None:
            self._bad_digest = None  # back to the good document (a bad publish undone)
            self._mark_healthy(run)
            return
        if digest == self._bad_digest:
            return  # the same bad document: already reported
        if len(body) > self.max_bytes:
            self._reject(
                run, digest, ConfigError(f"document is over the limit of {self.max_bytes:,} bytes", self.name)
            )
            return
        try:
            flagset = FlagSet.from_bytes(
                body,
                source=self.name,
                fmt=self.fmt or sniff_format(body),
                max_bytes=self.max_bytes,
                version=label,
            )
        except Exception as exc:  # ConfigError, or whatever else the loader raised about it
            self._reject(run, digest, load_failure(exc, self.name))
            return
        refused = None if self.allow_rollback else rollback(self._good, flagset, self.name)
        if refused is not None:  # a stale copy written back (a restored backup)
            self._reject(run, digest, refused)
            return
        self._good, self._good_digest, self._bad_digest, self._healthy = flagset, digest, None, True
        self._emit(run, flagset)
        self._confirm(run)
        self._write_cache(body, flagset.version)

    def _reject(self, run: _Run, digest: bytes, problem: ConfigError | SourceError) -> None:
        self._bad_digest = digest
        self._healthy = False
        self._emit(run, problem)

    def _mark_healthy(self, run: _Run) -> None:
        if not self._healthy and self._good is not None and self._bad_digest is None:
            self._healthy = True
            self._emit(run, self._good)  # clears the error in status()
        if self._healthy:
            self._confirm(run)  # checked: the flags served are the key's current ones

    def _next_poll(self) -> float:
        return time.monotonic() + self._jittered(self.poll_interval)

    # --- cache ------------------------------------------------------------------------

    def _use_cache(self, run: _Run, cached: FlagSet) -> None:
        self._good = cached
        if self.fresh_at is None:  # no check of Redis succeeded: as old as the cache
            self.fresh_at = self._cache_saved_at
        logger.info("flagkit: %s serves its cached flags from %s", self.name, self.cache_path)
        self._emit(run, cached)

    def _read_cache(self) -> FlagSet | None:
        if self._cache is None:
            return None
        found = self._cache.read(self._load_cached)
        if found is None:
            return None
        self._good_digest = found.digest
        self._cache_saved_at = found.saved_at
        return found.flagset

    def _load_cached(self, body: bytes, envelope: Mapping[str, Any]) -> FlagSet:
        return FlagSet.from_bytes(
            body,
            source=f"{self.cache_path} (cache of {self.name})",
            fmt=self.fmt or sniff_format(body),
            max_bytes=self.max_bytes,
            version=envelope.get("version") or None,
        )

    def _write_cache(self, body: bytes, version: str | None) -> None:
        if self._cache is not None:
            self._cache.write(body, {"version": version})


def _close(pubsub: PubSub | None, client: Redis) -> None:
    """Close the connections of a session, whatever state they are in."""
    for closer in (pubsub.close if pubsub is not None else None, client.close):
        if closer is None:
            continue
        try:
            closer()
        except Exception as exc:  # a broken socket may fail to close; it is dropped anyway
            logger.debug("flagkit: closing a Redis connection failed: %s", type(exc).__name__)
