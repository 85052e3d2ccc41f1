"""Safe YAML 1.2 from libyaml's event stream, and the line of every field path.

YAML is read straight from libyaml's event stream (PyYAML's C parser) instead of through
PyYAML's constructors. That is about five times faster for large files, and it lets this
module apply YAML 1.2 core-schema scalars (only ``true``/``false`` are booleans, so
``on``/``off``/``yes``/``no`` stay strings), refuse duplicate keys with both line numbers,
refuse every tag that would construct an object, and bound anchor/alias expansion.

:func:`locate_lines` reads a document again (YAML or JSON: JSON is YAML flow syntax) only to
put line numbers on errors.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import yaml

from ..errors import ConfigError, ConfigIssue

__all__ = [
    "HAVE_LIBYAML",
    "MAX_DEPTH",
    "MAX_EXPANDED_NODES",
    "MAX_INT_DIGITS",
    "Path",
    "int_too_long",
    "line_for",
    "locate_lines",
    "parse_yaml",
    "resolve_plain",
]

Path = tuple[str | int, ...]
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
MAX_INT_DIGITS = 4300
"""Longest integer accepted, in decimal digits (Python's default int/str conversion limit)."""
_TOO_LONG = 10**MAX_INT_DIGITS


def int_too_long(value: int) -> bool:
    """True when ``value`` has more than :data:`MAX_INT_DIGITS` decimal digits."""
    return value.bit_length() > 14_284 and abs(value) >= _TOO_LONG  # 2**14284 < 10**4300


class _NumberError(ValueError):
    """A number that flag files may not hold (non-finite, or too long)."""


def _finite(value: float, text: str) -> float:
    if value - value != 0.0:  # inf - inf and nan - nan are nan: one test for both
        raise _NumberError(f"{text} is not allowed: numbers must be finite")
    return value


def _bounded(value: int) -> int:
    if int_too_long(value):
        raise _NumberError("integer with more than 4,300 digits")
    return value


def resolve_plain(text: str) -> Any:
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
            try:
                return int(text)
            except ValueError:  # over Python's 4,300-digit int/str limit
                raise _NumberError("integer with more than 4,300 digits") from None
        if _FLOAT_RE.match(text):
            return _finite(float(text), text)
        if _OCT_RE.match(text):
            return _bounded(int(text[2:], 8))
        if _HEX_RE.match(text):
            return _bounded(int(text[2:], 16))
        if text in _INF or text in _NINF or text in _NAN:
            raise _NumberError(f"{text} is not allowed: numbers must be finite")
    return text


def _resolve_tagged(tag: str, text: str, plain: bool) -> Any:
    if tag == "!" or tag == _CORE + "str":
        return text
    if not tag.startswith(_CORE):
        raise ValueError(f"tag {tag!r} is not allowed (flag files may use only YAML's core tags)")
    name = tag[len(_CORE) :]
    value = resolve_plain(text)
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


def parse_yaml(data: bytes | str, source: str, marks: dict[Path, int] | None) -> Any:
    parser: Any = _Parser(data)
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    root: Any = None
    documents = 0
    expanded = 0
    path: Path = ()

    def fail(
        message: str, line: int | None, path: Path | None = None, column: int | None = None
    ) -> ConfigError:
        where = _position(stack) if path is None else path
        return ConfigError(ConfigIssue(message, where, source, line, column))

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
                raise fail("mapping keys must be plain scalars", line)
            key = "null" if value is None else value if isinstance(value, str) else _key_text(value)
            if key in frame.key_lines:
                raise fail(
                    f"duplicate key {key!r} (line {frame.key_lines[key]} and line {line})",
                    line,
                    (*_position(stack), key),
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
                        raise fail("mapping keys must be plain strings", line)
                    add(event.value, 1, line, event.anchor)
                    continue
                try:  # zero-cost unless a number is refused
                    if event.tag is None or event.tag == "!":
                        value = (
                            resolve_plain(event.value)
                            if event.implicit[0] and event.tag is None
                            else event.value
                        )
                    else:
                        value = _resolve_tagged(event.tag, event.value, event.implicit[0])
                except ValueError as exc:
                    raise fail(str(exc), line) from None
                add(value, 1, line, event.anchor)
            elif etype is yaml.MappingStartEvent or etype is yaml.SequenceStartEvent:
                line = event.start_mark.line + 1
                if event.tag not in (None, "!", _CORE + "map", _CORE + "seq"):
                    raise fail(
                        f"tag {event.tag!r} is not allowed (flag files may use only YAML's core tags)", line
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
        column = mark.column + 1 if mark is not None else None
        raise fail(f"invalid YAML: {_yaml_problem(exc, data, mark)}", line, column=column) from None
    except yaml.YAMLError as exc:
        raise fail(f"invalid YAML: {exc}", None) from None
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose is not None:
            dispose()
    return root


def _yaml_problem(exc: yaml.MarkedYAMLError, data: bytes | str, mark: Any) -> str:
    """PyYAML's problem in words a user acts on (tabs named as such)."""
    problem = str(exc.problem or exc.context or "syntax error")
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if "tab character" in problem:
        return "tabs are not allowed for indentation in YAML: indent with spaces"
    if mark is not None:
        lines = text.splitlines()
        if 0 <= mark.line < len(lines) and lines[mark.line][: mark.column + 1].lstrip(" ").startswith("\t"):
            return "tabs are not allowed for indentation in YAML: indent with spaces"
    if exc.context and exc.context_mark is not None and exc.problem:
        # "found unexpected end of stream" alone hides where the trouble began.
        start = exc.context_mark
        problem = f"{problem} {exc.context} at line {start.line + 1}, column {start.column + 1}"
        if "quoted scalar" in exc.context:
            problem += " (is its closing quote missing?)"
    return problem


def _position(stack: list[_Frame]) -> Path:
    """The field path of the node being read: each open mapping's pending key, each open
    sequence's next index. Only built for an error, so reading records no paths."""
    out: list[str | int] = []
    for frame in stack:
        if not frame.is_map:
            out.append(len(frame.container))
        elif frame.key is not None:
            out.append(frame.key)
    return tuple(out)


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


def locate_lines(data: bytes | str) -> dict[Path, int]:
    """Map each field path of a (valid) YAML or JSON document to its 1-based line number.

    Used only to annotate errors, so it never runs on a successful load.
    """
    marks: dict[Path, int] = {}
    try:
        parse_yaml(data, "<locate>", marks)
    except ConfigError:
        # JSON may escape characters beyond the BMP as surrogate pairs (json.dumps does),
        # which YAML refuses: read it again with the characters themselves.
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        if _SURROGATE_ESCAPE.search(text):
            marks.clear()
            with contextlib.suppress(ConfigError):
                parse_yaml(_SURROGATE_ESCAPE.sub(_unescape_surrogates, text), "<locate>", marks)
    return marks


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?")


def _unescape_surrogates(match: re.Match[str]) -> str:
    text = match.group()
    high = int(text[2:6], 16)
    if len(text) == 12:
        return chr(0x10000 + ((high - 0xD800) << 10) + (int(text[8:12], 16) - 0xDC00))
    return "\ufffd"  # a lone surrogate: its key will not match; the parent's line is used


def line_for(marks: dict[Path, int], path: Path) -> int | None:
    """The line of ``path`` or of its nearest located ancestor."""
    probe = tuple(path)
    while probe:
        if probe in marks:
            return marks[probe]
        probe = probe[:-1]
    return None
