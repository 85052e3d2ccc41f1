"""The last good document of a networked provider, kept on disk for a restart.

HttpProvider and RedisProvider write every document they accept to ``cache_path`` (atomically,
mode 0600) in a JSON envelope, and read it at start when their source cannot be reached, so a
restarting app comes up with its last known flags. The envelope names the source it belongs
to by a hash of its real identity (URL with credentials and query, plus the Redis key), so
sources that mask alike never share a cache; the masked name is there for humans only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._files import atomic_write
from ..flagset import FlagSet
from ._runner import describe

__all__ = ["Cached", "LastGoodCache"]

logger = logging.getLogger("flagkit")

_FORMAT = 1
"""Version of the envelope; an envelope of another version is ignored."""

_CLOCK_SKEW = 60.0
"""A ``saved_at`` further in the future than this is not believed."""


@dataclass(frozen=True, slots=True)
class Cached:
    """A cache read back at start.

    Attributes:
        flagset: The cached document, loaded.
        digest: SHA-256 of the document: the same body fetched again needs no reload.
        saved_at: When it was written (the last successful check it records), if plausible.
        envelope: The whole envelope, for the provider's own fields (validators, format).
    """

    flagset: FlagSet
    digest: bytes
    saved_at: float | None
    envelope: Mapping[str, Any]


class LastGoodCache:
    """One provider's cache file.

    Args:
        path: The file.
        identity: What the cache belongs to, secrets included (hashed before it is stored).
        label: The source's name with secrets masked (stored for humans).
        redact: Masks the provider's secrets in the messages logged about the cache.
    """

    def __init__(self, path: Path, identity: str, label: str, redact: Callable[[str], str]) -> None:
        self.path = path
        self.label = label
        self._key = hashlib.sha256(identity.encode()).hexdigest()
        self._redact = redact

    def read(self, load: Callable[[bytes, Mapping[str, Any]], FlagSet]) -> Cached | None:
        """The cached document loaded by ``load(body, envelope)``, or None if there is none,
        it belongs to another source, or it cannot be read or loaded (logged)."""
        path = self.path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("flagkit: cannot read the cache %s: %s", path, exc.strerror or exc)
            return None
        try:
            envelope: Any = json.loads(raw)
            if envelope.get("flagkit_cache") != _FORMAT or envelope.get("url_sha256") != self._key:
                return None  # another source's cache (maybe one that masks alike), or an old one
            body = str(envelope["body"]).encode()
            flagset = load(body, envelope)
        except Exception as exc:  # a corrupt or foreign cache, or a loader failure: no cache
            detail = self._redact(describe(exc))
            logger.warning("flagkit: ignoring the unreadable cache %s: %s", path, detail)
            return None
        return Cached(flagset, hashlib.sha256(body).digest(), _saved_at(envelope), envelope)

    def write(self, body: bytes, fields: Mapping[str, Any]) -> bool:
        """Keep ``body`` (with the provider's ``fields``) as the last good document.

        Never raises: a body that is not UTF-8, a full disk or a read-only directory is
        logged and serving goes on. Returns whether the file was written.
        """
        path = self.path
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            logger.warning("flagkit: not caching %s: the body is not UTF-8", self.label)
            return False
        envelope = {
            "flagkit_cache": _FORMAT,
            "url": self.label,  # masked, for humans; the match is on url_sha256
            "url_sha256": self._key,
            **fields,
            "saved_at": time.time(),
            "body": text,
        }
        try:
            atomic_write(path, json.dumps(envelope, allow_nan=False).encode())
        except OSError as exc:
            logger.warning("flagkit: cannot write the cache %s: %s", path, exc.strerror or exc)
            return False
        except Exception as exc:  # never let the cache end the provider's thread
            logger.warning("flagkit: cannot write the cache %s: %s", path, self._redact(describe(exc)))
            return False
        return True


def _saved_at(envelope: Any) -> float | None:
    """The ``saved_at`` of an envelope, if it is a plausible Unix time."""
    value = envelope.get("saved_at")
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 < value < time.time() + _CLOCK_SKEW
    ):
        return float(value)
    return None
