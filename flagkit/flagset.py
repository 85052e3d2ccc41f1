"""FlagSet: a validated, compiled, immutable set of flags from one source.

This is what providers produce and what the client merges. Building one runs the whole
load pipeline: read (YAML/JSON) → validate (pydantic) → compile (closures); any error is
raised as a single :class:`~flagkit.ConfigError` listing every issue with file and line, from
the schema and the compiler alike (as ``flagkit validate`` reports them).
"""

from __future__ import annotations

import gc
import hashlib
import os
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ._engine.compiler import CompiledFlag, compile_document
from ._engine.ramps import Clock
from ._files import open_regular
from .document.definitions import DocumentSpec
from .document.reader import MAX_DOCUMENT_BYTES, Format, detect_format, line_for, locate_lines, read_document
from .document.schema import FlagDocument
from .document.validation import validate_document
from .errors import ConfigError, ConfigIssue

__all__ = ["FlagSet", "now"]


def now() -> float:
    """The wall clock (seconds since the epoch) that ramped splits and ``now`` conditions read
    when a flag set is built without a ``clock``: the engine reads no clock it is not given.
    Looked up when a document is compiled, so the command line's ``--now`` replaces it for
    its process."""
    return time.time()


@dataclass(frozen=True, slots=True)
class FlagSet:
    """Compiled flags from one source.

    Attributes:
        flags: Flag key → compiled flag.
        source: File name, URL or label the flags came from.
        version: A content hash or ETag identifying this version of the source.
        spec: What is kept of the document besides the flags (``None`` when built from
            compiled flags directly); see :mod:`flagkit.document.definitions`.
        unused_segments: Segments defined but not referenced by any flag.
    """

    flags: Mapping[str, CompiledFlag]
    source: str | None = None
    version: str | None = None
    spec: DocumentSpec | None = field(default=None, repr=False)
    unused_segments: frozenset[str] = frozenset()
    _document: weakref.ref[FlagDocument] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def document(self) -> FlagDocument | None:
        """The validated document (``None`` when built from compiled flags directly).

        Re-derived on demand from what the flag set keeps (one validation of the whole
        document; the pydantic models are not kept after loading), and cached only while the
        caller holds it: a tool that needs it for several steps should keep a reference.
        """
        if self.spec is None:
            return None
        cached = self._document() if self._document is not None else None
        if cached is None:
            with _gc_paused():  # as when loading: with the collector on, 10,000 models take ~3x as long
                cached = self.spec.document(self.flags)
            object.__setattr__(self, "_document", weakref.ref(cached))  # a cache on a frozen object
        return cached

    @property
    def document_version(self) -> int | None:
        """The document's top-level ``version`` (an integer), if it has one."""
        return self.spec.version if self.spec is not None else None

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
        epoch, default :func:`now`) is what ramped splits and ``now`` conditions read; tests
        pass a fake one.

        Raises:
            ConfigError: The definitions are invalid.
        """
        with _loader_guard(source):
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
            clock: Seconds since the epoch for ramped splits and ``now`` conditions (default
                :func:`now`).

        Raises:
            ConfigError: Any problem, with file, line, flag key and field path.
        """
        fmt = fmt or detect_format(source)
        with _loader_guard(source), _gc_paused():
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
            OSError: The file cannot be read, or is not a regular file (a FIFO, directory
                or device).
        """
        path = Path(path)
        with open_regular(path) as fh:  # never blocks on a FIFO or reads a device
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
            raise _located(validated + _compile_the_rest(doc, validated, source), data, source)
        flags, issues, used = compile_document(
            validated, source, clock=clock if clock is not None else now, raw=doc
        )
        if issues:
            raise _located(issues, data, source)
        unused = frozenset(validated.segments) - used
        spec = DocumentSpec(doc, validated, source)
        return cls(flags, source=source, version=version, spec=spec, unused_segments=unused)


@contextmanager
def _loader_guard(source: str | None) -> Iterator[None]:
    """Defence in depth: whatever goes wrong while loading surfaces as a ConfigError naming
    the source, so a provider keeps its last good flags. The original exception is kept as
    ``__cause__`` for a traceback, but its text (which may quote the document) is not shown."""
    try:
        yield
    except ConfigError:
        raise
    except Exception as exc:
        issue = ConfigIssue(
            f"the document could not be loaded ({type(exc).__name__} inside flagkit; "
            "please report it as a bug)",
            (),
            source,
        )
        raise ConfigError(issue, source) from exc


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


def _compile_the_rest(doc: Any, schema_issues: list[ConfigIssue], source: str | None) -> list[ConfigIssue]:
    """The compiler's issues for the flags that passed schema validation, so one error lists
    every problem: a document with a schema error cannot be compiled as it is, so compile a
    copy where each flag with schema errors is an empty definition (``requires`` of it still
    resolve). Runs only for a document that is already rejected."""
    bad_flags = {issue.flag for issue in schema_issues}
    features = doc.get("features") if isinstance(doc, dict) else None
    if None in bad_flags or not isinstance(features, dict):  # a document-level problem
        return []
    pruned = {**doc, "features": {k: ({} if k in bad_flags else v) for k, v in features.items()}}
    validated = validate_document(pruned, source)
    if isinstance(validated, list):
        return []
    _flags, issues, _used = compile_document(validated, source, clock=now)
    seen = {issue.path for issue in schema_issues}
    return [issue for issue in issues if issue.path not in seen and issue.flag not in bad_flags]


def _located(issues: list[ConfigIssue], data: bytes | str | None, source: str | None) -> ConfigError:
    """Attach line numbers (found by re-reading the document) to issues that lack them, and
    list the issues in line order."""
    if data is not None:
        marks = locate_lines(data)
        issues = [
            issue if issue.line is not None else replace(issue, line=line_for(marks, issue.path))
            for issue in issues
        ]
        issues.sort(key=lambda issue: issue.line if issue.line is not None else 0)
    return ConfigError(issues, source)
