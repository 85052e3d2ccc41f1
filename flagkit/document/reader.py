"""Bytes to plain documents: safe YAML 1.2 and JSON, with line numbers for error messages.

This module is the entry point (:func:`read_document`, size limit, format detection); the
readers are :mod:`.yaml12` (libyaml events, YAML 1.2 core scalars, line locating) and
:mod:`.json_reader`.

Numbers must be finite (no ``.inf``/``.nan`` in YAML, no ``NaN``/``Infinity`` in JSON, which
``json.dumps`` writes for a float NaN) and integers at most 4,300 digits long (Python's
int/str conversion limit); both formats are nested at most :data:`MAX_DEPTH` levels deep.
Every problem is a :class:`~flagkit.ConfigError` with the source and, where known, the line
and field path.

Mapping keys are always strings: the key's text as written (``1: x`` gives the key ``"1"``).
"""

from __future__ import annotations

import difflib
import os
import pathlib
from typing import Any, Literal

from ..errors import ConfigError, ConfigIssue
from .json_reader import parse_json
from .yaml12 import MAX_DEPTH as MAX_DEPTH
from .yaml12 import MAX_EXPANDED_NODES as MAX_EXPANDED_NODES
from .yaml12 import MAX_INT_DIGITS as MAX_INT_DIGITS
from .yaml12 import int_too_long as int_too_long
from .yaml12 import line_for as line_for
from .yaml12 import locate_lines as locate_lines
from .yaml12 import parse_yaml

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_EXPANDED_NODES",
    "MAX_INT_DIGITS",
    "Format",
    "detect_format",
    "int_too_long",
    "locate_lines",
    "missing_file_message",
    "read_document",
]

Format = Literal["yaml", "json"]

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
"""Documents larger than this are refused before parsing (override per call)."""


def detect_format(name: str, default: Format = "yaml") -> Format:
    """Pick the format from a file name or URL path (``.json`` → JSON, ``.yaml``/``.yml`` → YAML)."""
    lowered = name.lower().split("?", 1)[0]
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    return default


def missing_file_message(path: str | os.PathLike[str]) -> str:
    """ "no such file", with the file probably meant when one is beside it: the same name with
    another flag-file extension (``features.yml`` for ``features.yaml``), or a close name."""
    wanted = pathlib.Path(path)
    folder = wanted.parent
    try:
        siblings = sorted(p.name for p in folder.iterdir() if p.is_file())
    except OSError:
        return "no such file"
    same_stem = [
        name
        for name in siblings
        if (sibling := pathlib.PurePath(name)).stem == wanted.stem and sibling.suffix in _FLAG_SUFFIXES
    ]
    close = same_stem or difflib.get_close_matches(wanted.name, siblings, n=1, cutoff=0.75)
    if not close:
        return "no such file"
    meant = close[0] if str(folder) == "." else str(folder / close[0])
    return f"no such file; did you mean {meant!r}?"


_FLAG_SUFFIXES = frozenset({".yaml", ".yml", ".json"})


def read_document(
    data: bytes | str,
    *,
    source: str = "<flags>",
    fmt: Format = "yaml",
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> Any:
    """Parse a YAML or JSON document into plain dicts, lists and scalars.

    Args:
        data: The document's bytes (or text).
        source: File name or URL, used in error messages.
        fmt: ``"yaml"`` or ``"json"``.
        max_bytes: Documents larger than this are refused before parsing.

    Raises:
        ConfigError: The document is too large, malformed, has duplicate keys or disallowed tags.
    """
    size = len(data.encode() if isinstance(data, str) else data)
    if size > max_bytes:
        raise ConfigError(
            ConfigIssue(f"document is {size:,} bytes, over the limit of {max_bytes:,}", (), source)
        )
    if fmt == "json":
        return parse_json(data, source)
    return parse_yaml(data, source, None)
