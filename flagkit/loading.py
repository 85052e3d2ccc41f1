"""Bytes to plain documents: safe YAML 1.2 and JSON, with line numbers for error messages.

YAML is read straight from libyaml's event stream (PyYAML's C parser) instead of through
PyYAML's constructors. That is about five times faster for large files, and it lets this
module apply YAML 1.2 core-schema scalars (only ``true``/``false`` are booleans, so
``on``/``off``/``yes``/``no`` stay strings), refuse duplicate keys with both line numbers,
refuse every tag that would construct an object, and bound anchor/alias expansion.

Mapping keys are always strings: the key's text as written (``1: x`` gives the key ``"1"``).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from typing import Any, Literal

import yaml

from .errors import ConfigError, ConfigIssue

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_EXPANDED_NODES",
    "Format",
    "detect_format",
    "locate_lines",
    "read_document",
]

Format = Literal["yaml", "json"]
Path = tuple[str | int, ...]

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
"""Documents larger than this are refused before parsing (override per call)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences accepted."""
MAX_EXPANDED_NODES = 2_000_000
"""Bound on nodes after expanding aliases: stops "billion laughs" documents early."""

try:  # pragma: no cover - which branch runs depends on how PyYAML was built
    from yaml._yaml import CParser as _Parser

    HAVE_LIBYAML = True
except ImportError:  # pragma: no cover - pure-Python PyYAML fallback
    HAVE_LIBYAML = False

    def _Parser(data: bytes | str) -> Any:  # type: ignore[no-redef]  # pure-Python stand-in
        return yaml.SafeLoader(data)


_INT_RE = re.compile(r"[-+]?[0-9]+\Z")
_OCT_RE = re.compile(r"0o[0-7]+\Z")
_HEX_RE = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_INF = frozenset({".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})
_NINF = frozenset({"-.inf", "-.Inf", "-.INF"})
_NAN = frozenset({".nan", ".NaN", ".NAN"})
_CORE = "tag:yaml.org,2002:"


def detect_format(name: str, default: Format = "yaml") -> Format:
    """Pick the format from a file name or URL path (``.json`` → JSON, ``.yaml``/``.yml`` → YAML)."""
    lowered = name.lower().split("?", 1)[0]
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    return default


def _resolve_plain(text: str) -> Any:
    """YAML 1.2 core schema resolution of a plain (unquoted, untagged) scalar."""
    if not text or text in _NULLS:
        return None
    first = text[0]
    if first in "tTfF":
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        return text
    if first in "0123456789+-.":
        if _INT_RE.match(text):
            return int(text)
        if _FLOAT_RE.match(text):
            return float(text)
        if _OCT_RE.match(text):
            return int(text[2:], 8)
        if _HEX_RE.match(text):
            return int(text[2:], 16)
        if text in _INF:
            return math.inf
        if text in _NINF:
            return -math.inf
        if text in _NAN:
            return math.nan
    return text


def _resolve_tagged(tag: str, text: str, plain: bool) -> Any:
    if tag == "!" or tag == _CORE + "str":
        return text
    if not tag.startswith(_CORE):
        raise ValueError(f"tag {tag!r} is not allowed (flag files may use only YAML's core tags)")
    name = tag[len(_CORE) :]
    value = _resolve_plain(text)
    expected: dict[str, tuple[type[Any], ...]] = {
        "bool": (bool,),
        "int": (int,),
        "float": (float, int),
        "null": (type(None),),
    }
    if name not in expected:
        raise ValueError(f"tag !!{name} is not allowed (flag files may use only YAML's core tags)")
    if isinstance(value, bool) and name != "bool":
        raise ValueError(f"{text!r} is not a valid !!{name}")
    if not isinstance(value, expected[name]):
        raise ValueError(f"{text!r} is not a valid !!{name}")
    return float(value) if name == "float" else value


class _Frame:
    __slots__ = ("anchor", "container", "is_map", "key", "key_lines", "path", "size")

    def __init__(self, container: Any, is_map: bool, anchor: str | None, path: Path) -> None:
        self.container = container
        self.is_map = is_map
        self.anchor = anchor
        self.key: str | None = None
        self.key_lines: dict[str, int] = {}
        self.size = 1
        self.path = path


def _parse_yaml(data: bytes | str, source: str, marks: dict[Path, int] | None) -> Any:
    parser: Any = _Parser(data)
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    root: Any = None
    documents = 0
    expanded = 0
    path: Path = ()

    def fail(message: str, line: int | None, path: Path = ()) -> ConfigError:
        return ConfigError(ConfigIssue(message, path, source, line))

    def add(value: Any, size: int, line: int, anchor: str | None) -> None:
        nonlocal root, expanded
        expanded += size
        if expanded > MAX_EXPANDED_NODES:
            raise fail(f"document expands to more than {MAX_EXPANDED_NODES:,} nodes (alias bomb?)", line)
        if anchor is not None:
            anchors[anchor] = (value, size)
        if not stack:
            root = value
            return
        frame = stack[-1]
        frame.size += size
        if not frame.is_map:
            if marks is not None:  # a container item was marked at its start already
                marks.setdefault((*frame.path, len(frame.container)), line)
            frame.container.append(value)
            return
        key = frame.key
        if key is None:
            if isinstance(value, dict | list):
                raise fail("mapping keys must be plain scalars", line, frame.path)
            key = "null" if value is None else value if isinstance(value, str) else _key_text(value)
            if key in frame.key_lines:
                raise fail(
                    f"duplicate key {key!r} (line {frame.key_lines[key]} and line {line})",
                    line,
                    (*frame.path, key),
                )
            frame.key_lines[key] = line
            frame.key = key
            return
        frame.key = None
        if key == "<<" and isinstance(value, dict | list):
            _merge_into(frame.container, value)
            return
        if marks is not None:
            marks[(*frame.path, key)] = frame.key_lines[key]
        frame.container[key] = value

    try:
        while True:
            event: Any = parser.get_event()
            etype = type(event)
            if etype is yaml.ScalarEvent:
                line = event.start_mark.line + 1
                if stack and stack[-1].is_map and stack[-1].key is None:
                    # A mapping key: keep its text as written.
                    if event.tag not in (None, "!", _CORE + "str"):
                        raise fail("mapping keys must be plain strings", line, stack[-1].path)
                    add(event.value, 1, line, event.anchor)
                    continue
                if event.tag is None or event.tag == "!":
                    value = (
                        _resolve_plain(event.value)
                        if event.implicit[0] and event.tag is None
                        else event.value
                    )
                else:
                    try:
                        value = _resolve_tagged(event.tag, event.value, event.implicit[0])
                    except ValueError as exc:
                        raise fail(str(exc), line, stack[-1].path if stack else ()) from None
                add(value, 1, line, event.anchor)
            elif etype is yaml.MappingStartEvent or etype is yaml.SequenceStartEvent:
                line = event.start_mark.line + 1
                if event.tag not in (None, "!", _CORE + "map", _CORE + "seq"):
                    raise fail(
                        f"tag {event.tag!r} is not allowed (flag files may use only YAML's core tags)",
                        line,
                        stack[-1].path if stack else (),
                    )
                if len(stack) >= MAX_DEPTH:
                    raise fail(f"nesting deeper than {MAX_DEPTH} levels", line)
                is_map = etype is yaml.MappingStartEvent
                path = ()
                if marks is not None and stack:
                    parent = stack[-1]
                    if parent.is_map and parent.key is not None:
                        path = (*parent.path, parent.key)
                        marks[path] = parent.key_lines[parent.key]
                    else:
                        path = (*parent.path, len(parent.container))
                        marks[path] = line
                elif stack:
                    path = stack[-1].path
                stack.append(_Frame({} if is_map else [], is_map, event.anchor, path))
            elif etype is yaml.MappingEndEvent or etype is yaml.SequenceEndEvent:
                frame = stack.pop()
                # The container was counted node by node while it filled; count it once more
                # only for the alias table, not again in `expanded`.
                expanded -= frame.size - 1
                add(frame.container, frame.size, event.start_mark.line + 1, frame.anchor)
            elif etype is yaml.AliasEvent:
                line = event.start_mark.line + 1
                if event.anchor not in anchors:
                    raise fail(f"unknown alias *{event.anchor}", line)
                value, size = anchors[event.anchor]
                add(value, size, line, None)
            elif etype is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise fail("more than one YAML document in one file", event.start_mark.line + 1)
            elif etype is yaml.StreamEndEvent:
                break
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise fail(f"invalid YAML: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError as exc:
        raise fail(f"invalid YAML: {exc}", None) from None
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose is not None:
            dispose()
    return root


def _key_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _merge_into(target: dict[str, Any], merged: dict[str, Any] | list[Any]) -> None:
    """YAML merge key (``<<: *base``): keys already present win."""
    sources = merged if isinstance(merged, list) else [merged]
    for src in sources:
        if isinstance(src, dict):
            for key, value in src.items():
                target.setdefault(key, value)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # rare: find the first repeated key for the message
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _parse_json(data: bytes | str, source: str) -> Any:
    try:
        return json.loads(data, object_pairs_hook=_reject_duplicates)
    except _DuplicateKey as exc:
        # JSON is YAML 1.2 flow syntax: the YAML reader names both lines.
        try:
            _parse_yaml(data, source, None)
        except ConfigError as located:
            raise located from None
        raise ConfigError(ConfigIssue(f"duplicate key {exc.key!r}", (), source)) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(ConfigIssue(f"invalid JSON: {exc.msg}", (), source, exc.lineno)) from None
    except RecursionError:
        raise ConfigError(ConfigIssue("invalid JSON: nesting too deep", (), source)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(ConfigIssue(f"invalid JSON: not UTF-8 ({exc.reason})", (), source)) from None


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
        return _parse_json(data, source)
    return _parse_yaml(data, source, None)


def locate_lines(data: bytes | str) -> dict[Path, int]:
    """Map each field path of a (valid) YAML or JSON document to its 1-based line number.

    Used only to annotate errors, so it never runs on a successful load.
    """
    marks: dict[Path, int] = {}
    with contextlib.suppress(ConfigError):
        _parse_yaml(data, "<locate>", marks)
    return marks


def line_for(marks: dict[Path, int], path: Path) -> int | None:
    """The line of ``path`` or of its nearest located ancestor."""
    probe = tuple(path)
    while probe:
        if probe in marks:
            return marks[probe]
        probe = probe[:-1]
    return None
