"""FlagSet: a validated, compiled, immutable set of flags from one source.

This is what providers produce and what the client merges. Building one runs the whole
load pipeline: read (YAML/JSON) → validate (pydantic) → compile (closures); any error is
raised as a single :class:`~flagkit.ConfigError` listing every issue with file and line.
"""

from __future__ import annotations

import gc
import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .compiler import CompiledFlag, compile_document
from .errors import ConfigError, ConfigIssue
from .loading import (
    MAX_DOCUMENT_BYTES,
    Format,
    detect_format,
    line_for,
    locate_lines,
    read_document,
)
from .ramps import Clock
from .schema import FlagDocument, validate_document

__all__ = ["FlagSet"]


@dataclass(frozen=True, slots=True)
class FlagSet:
    """Compiled flags from one source.

    Attributes:
        flags: Flag key → compiled flag.
        source: File name, URL or label the flags came from.
        version: A content hash or ETag identifying this version of the source.
        document: The validated document (``None`` when built from compiled flags directly).
        unused_segments: Segments defined but not referenced by any flag.
    """

    flags: Mapping[str, CompiledFlag]
    source: str | None = None
    version: str | None = None
    document: FlagDocument | None = field(default=None, repr=False)
    unused_segments: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.flags)

    def __contains__(self, key: object) -> bool:
        return key in self.flags

    def with_version(self, version: str | None) -> FlagSet:
        """A copy labelled with another version (e.g. an HTTP ETag)."""
        return replace(self, version=version)

    @classmethod
    def empty(cls, source: str | None = None) -> FlagSet:
        """A flag set with no flags."""
        return cls({}, source=source)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], source: str | None = "<dict>", *, clock: Clock | None = None
    ) -> FlagSet:
        """Build from a parsed document: ``{"features": {...}, "segments": {...}}``.

        A mapping without a ``features`` key is taken as the features mapping itself, so
        ``FlagSet.from_dict({"new_checkout": True})`` works. ``clock`` (seconds since the
        epoch, default ``time.time``) is what ramped splits read; tests pass a fake one.

        Raises:
            ConfigError: The definitions are invalid.
        """
        doc: Any = data
        if isinstance(data, Mapping) and "features" not in data and "segments" not in data:
            doc = {"features": dict(data)}
        return cls._build(doc, source, None, None, clock)

    @classmethod
    def from_bytes(
        cls,
        data: bytes | str,
        *,
        source: str = "<flags>",
        fmt: Format | None = None,
        max_bytes: int = MAX_DOCUMENT_BYTES,
        version: str | None = None,
        clock: Clock | None = None,
    ) -> FlagSet:
        """Parse, validate and compile a YAML or JSON document.

        Args:
            data: The document.
            source: Its file name or URL (used for the format when ``fmt`` is omitted).
            fmt: ``"yaml"`` or ``"json"``.
            max_bytes: Size limit.
            version: Version label; defaults to a SHA-256 prefix of the content.
            clock: Seconds since the epoch for ramped splits (default ``time.time``).

        Raises:
            ConfigError: Any problem, with file, line, flag key and field path.
        """
        fmt = fmt or detect_format(source)
        with _gc_paused():
            # The parsed document dies with _load's frame, before the GC is back on: the first
            # collection afterwards then scans only what the flag set keeps.
            return cls._load(data, source, fmt, max_bytes, version, clock)

    @classmethod
    def _load(
        cls,
        data: bytes | str,
        source: str,
        fmt: Format,
        max_bytes: int,
        version: str | None,
        clock: Clock | None,
    ) -> FlagSet:
        doc = read_document(data, source=source, fmt=fmt, max_bytes=max_bytes)
        if doc is None:
            # An empty body, a file of comments, `---` or `null`: far more often a truncated
            # write or a broken upload than a wish to delete every flag.
            raise ConfigError(
                ConfigIssue(
                    "the document is empty; write `features: {}` for a flag file with no flags", (), source
                )
            )
        raw = data.encode() if isinstance(data, str) else data
        version = version or hashlib.sha256(raw).hexdigest()[:16]
        return cls._build(doc, source, data, version, clock)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, max_bytes: int = MAX_DOCUMENT_BYTES, clock: Clock | None = None
    ) -> FlagSet:
        """Load a YAML (``.yaml``/``.yml``) or JSON (``.json``) flag file.

        Raises:
            ConfigError: The file is invalid.
            OSError: The file cannot be read.
        """
        path = Path(path)
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
        return cls.from_bytes(data, source=str(path), max_bytes=max_bytes, clock=clock)

    @classmethod
    def _build(
        cls,
        doc: Any,
        source: str | None,
        data: bytes | str | None,
        version: str | None,
        clock: Clock | None = None,
    ) -> FlagSet:
        validated = validate_document(doc, source)
        if isinstance(validated, list):
            raise _located(validated, data, source)
        flags, issues, used = compile_document(validated, source, clock=clock)
        if issues:
            raise _located(issues, data, source)
        unused = frozenset(validated.segments) - used
        return cls(flags, source=source, version=version, document=validated, unused_segments=unused)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a document loads.

    Loading allocates hundreds of thousands of small objects (closures, tuples, models), which
    triggers repeated full collections of a large heap: pausing halves the load time of a
    10,000-flag file. Nothing allocated here forms garbage cycles that need collecting.
    """
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _located(issues: list[ConfigIssue], data: bytes | str | None, source: str | None) -> ConfigError:
    """Attach line numbers (found by re-reading the document) to issues that lack them."""
    if data is not None:
        marks = locate_lines(data)
        issues = [
            issue if issue.line is not None else replace(issue, line=line_for(marks, issue.path))
            for issue in issues
        ]
    return ConfigError(issues, source)
