"""The Redis wire contract shared by :class:`RedisProvider` and ``flagkit publish``.

``KEY`` holds the document, ``KEY:version`` its version label (:func:`version_label`), both
written in one ``MULTI``/``EXEC`` that also publishes the label on the channel (default
``KEY:changed``). redis-py is imported only when a connection is made.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from typing import TYPE_CHECKING, Any

from ..document.reader import MAX_DOCUMENT_BYTES, Format, read_document
from ..errors import ConfigError, ConfigIssue
from ..flagset import FlagSet

if TYPE_CHECKING:
    from redis import Redis

__all__ = [
    "Published",
    "connect",
    "default_channel",
    "default_version_key",
    "import_redis",
    "publish",
    "sniff_format",
    "url_secrets",
    "version_label",
]

_MAX_WATCH_RETRIES = 20
"""How often ``publish`` retries when another publisher changed the key under its WATCH."""


def version_label(document: bytes) -> str:
    """The version label of a document: the first 16 hex digits of its SHA-256.

    It is the label :meth:`FlagSet.from_bytes` gives by default, so ``status()`` shows the
    label that ``flagkit publish`` printed.
    """
    return hashlib.sha256(document).hexdigest()[:16]


def default_channel(key: str) -> str:
    """The pub/sub channel announcing new versions of ``key``."""
    return f"{key}:changed"


def default_version_key(key: str) -> str:
    """The key holding the version label of ``key``'s document."""
    return f"{key}:version"


def sniff_format(body: bytes) -> Format:
    """JSON when the document starts with ``{``, else YAML."""
    return "json" if body.lstrip()[:1] == b"{" else "yaml"


def import_redis() -> Any:
    """redis-py, or an ImportError that says how to install it."""
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - the dev environment has the extra
        raise ImportError("the Redis provider needs redis-py: pip install 'pyflagkit[redis]'") from exc
    return redis


def connect(url: str, timeout: float) -> Redis:
    """A client for ``url`` that never retries on its own (the caller owns the backoff)."""
    redis = import_redis()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client: Redis = redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        client_name="flagkit",
    )
    return client


def url_secrets(url: str) -> list[str]:
    """What must never be shown of ``url``: its password and query values, raw and decoded."""
    parts = urllib.parse.urlsplit(url)
    found = {parts.password or "", urllib.parse.unquote(parts.password or "")}
    for _, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        found.add(value)
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


class Published:
    """What :func:`publish` wrote.

    Attributes:
        label: The version label (``KEY:version``, the channel message, ``status().version``).
        version: The document's own top-level ``version``, if it has one.
        flags: How many flags the document defines.
        receivers: How many subscribers the channel message reached.
    """

    __slots__ = ("flags", "label", "receivers", "version")

    def __init__(self, label: str, version: int | str | None, flags: int, receivers: int) -> None:
        self.label, self.version, self.flags, self.receivers = label, version, flags, receivers


def publish(
    url: str,
    key: str,
    document: bytes,
    *,
    source: str = "<document>",
    channel: str | None = None,
    version_key: str | None = None,
    allow_older: bool = False,
    timeout: float = 5.0,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> Published:
    """Validate ``document`` and publish it: key, version key and message in one transaction.

    Raises:
        ConfigError: The document is invalid, or its top-level ``version`` is older than the
            published one's (unless ``allow_older``).
        redis.RedisError: Redis could not be reached or refused the write.
    """
    flagset = FlagSet.from_bytes(document, source=source, fmt=sniff_format(document), max_bytes=max_bytes)
    version = flagset.document_version
    label = version_label(document)
    redis = import_redis()
    client = connect(url, timeout)
    try:
        with client.pipeline(transaction=True) as pipe:
            for _ in range(_MAX_WATCH_RETRIES):
                try:
                    pipe.watch(key)  # a concurrent publish makes EXEC fail: then read again
                    if not allow_older:
                        _refuse_older(pipe.get(key), version, source, max_bytes)
                    pipe.multi()
                    pipe.set(key, document)
                    pipe.set(version_key or default_version_key(key), label)
                    pipe.publish(channel or default_channel(key), label)
                    receivers = pipe.execute()[-1]
                    return Published(label, version, len(flagset), int(receivers))
                except redis.WatchError:
                    continue
        raise redis.RedisError(f"the key {key!r} kept changing; nothing was published")
    finally:
        client.close()


def _refuse_older(current: Any, version: int | str | None, source: str, max_bytes: int) -> None:
    """Raise when the published document has a newer numeric top-level ``version``."""
    if not isinstance(current, bytes) or not isinstance(version, int):
        return
    try:
        doc = read_document(current, source="<published>", fmt=sniff_format(current), max_bytes=max_bytes)
    except ConfigError:
        return  # what is there is not a valid document: anything valid replaces it
    old = doc.get("version") if isinstance(doc, dict) else None
    if isinstance(old, int) and not isinstance(old, bool) and version < old:
        message = (
            f"version {version} is older than the published version {old}; use --allow-older to roll back"
        )
        raise ConfigError(ConfigIssue(message, ("version",), source))
