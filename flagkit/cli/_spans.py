"""Where each value of a flag file is written: a node tree with character spans.

The editing commands (``set``, ``kill``, ``revive``, ``rollout``) change a file by replacing
only the characters of the values that change, so comments, key order, quoting and
indentation of everything else stay byte for byte. This module finds those characters:

- YAML: PyYAML's composer (``yaml.compose``; no objects are constructed) gives every node a
  start and end mark; a node used more than once (an anchor with aliases or merge keys) is
  marked ``shared``, where it is written as well as where it is aliased, and so is all it holds.
- JSON: a small scanner, since JSON files may use tabs that YAML refuses.

It also renders new scalars in the style of the file and inserts keys with the indentation
of their siblings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, NoReturn

import yaml

from ..document.reader import Format
from ..document.yaml12 import resolve_plain as _resolve_plain

__all__ = ["Node", "SpanError", "insert_key", "parse_spans", "render_scalar"]


class SpanError(ValueError):
    """The file cannot be edited safely by machine (an alias, an odd layout, bad syntax)."""


@dataclass(eq=False)
class Node:
    """A mapping, sequence or scalar of the document, with where it is written.

    Attributes:
        kind: ``map``, ``seq`` or ``scalar``.
        start: Index of its first character in the text.
        end: Index just past its last character.
        line: 0-based line of ``start``.
        column: 0-based column of ``start``.
        style: Scalars: ``None`` (plain), ``'"'``, ``"'"``, ``"|"`` or ``">"``.
        flow: Containers written ``{...}`` / ``[...]`` (always for JSON).
        text: Scalars: the value as text (keys are matched on it).
        pairs: Mappings: ``(key node, value node)`` in written order.
        items: Sequences: the item nodes.
        shared: Anchored and aliased (``&a`` ... ``*a``, ``<<: *a``), or inside such a node,
            whether written here or reached through the alias: editing it would change the
            other places too.
    """

    kind: str
    start: int
    end: int
    line: int
    column: int
    style: str | None = None
    flow: bool = False
    text: str = ""
    pairs: list[tuple[Node, Node]] = field(default_factory=list)
    items: list[Node] = field(default_factory=list)
    shared: bool = False

    def get(self, key: str) -> tuple[Node, Node] | None:
        """The ``(key, value)`` nodes of ``key`` written in this mapping (not merged ones)."""
        for k, v in self.pairs:
            if k.text == key and k.kind == "scalar":
                return k, v
        return None


def parse_spans(text: str, fmt: Format) -> Node:
    """The node tree of a document.

    Raises:
        SpanError: The text does not parse.
    """
    if fmt == "json":
        return _JsonScanner(text).document()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise SpanError(f"cannot locate values in the YAML: {exc}") from None
    if root is None:
        raise SpanError("the document is empty")
    return _from_yaml(root, _references(root), set())


def _references(root: yaml.Node) -> dict[int, int]:
    """How often each node is reached: more than once means an anchor with aliases (the
    composer returns the anchored node itself for every ``*alias``, and for ``<<: *alias``).

    Counted before the tree is built, so the anchor's *owner* is shared too, not only the
    places that alias it: editing either would change both.
    """
    counts: dict[int, int] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        counts[id(node)] = counts.get(id(node), 0) + 1
        if counts[id(node)] > 1:  # its children were counted on its first visit
            continue
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return counts


def _from_yaml(node: yaml.Node, references: dict[int, int], stack: set[int], inside: bool = False) -> Node:
    """``inside``: within a shared node, so this one is shared too (an edit of it changes
    every place the enclosing anchor is used)."""
    start, end = node.start_mark, node.end_mark
    shared = inside or references.get(id(node), 0) > 1
    out = Node("scalar", start.index, end.index, start.line, start.column, shared=shared)
    if isinstance(node, yaml.ScalarNode):
        out.style, out.text = node.style, node.value
    elif id(node) in stack:  # a recursive alias: never editable
        out.shared = True
        return out
    else:
        stack.add(id(node))
        out.flow = bool(getattr(node, "flow_style", False))
        if isinstance(node, yaml.MappingNode):
            out.kind = "map"
            out.pairs = [
                (_from_yaml(k, references, stack, shared), _from_yaml(v, references, stack, shared))
                for k, v in node.value
            ]
        else:
            out.kind = "seq"
            out.items = [_from_yaml(item, references, stack, shared) for item in node.value]
        stack.discard(id(node))
    return out


_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_SPACE = " \t\r\n"


class _JsonScanner:
    """A JSON parser that records where every value is written (the file is valid JSON)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def document(self) -> Node:
        if self.text.startswith("\ufeff"):
            self.pos = 1
        node = self.value()
        self.skip()
        if self.pos != len(self.text):
            self.fail("extra data after the document")
        return node

    def fail(self, message: str) -> NoReturn:
        raise SpanError(f"cannot locate values in the JSON: {message} at offset {self.pos}")

    def skip(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
        self.pos = pos

    def node(self, kind: str, start: int) -> Node:
        line = _line_of(self.line_starts, start)
        return Node(kind, start, start, line, start - self.line_starts[line], flow=kind != "scalar")

    def value(self) -> Node:
        self.skip()
        if self.pos >= len(self.text):
            self.fail("unexpected end")
        char = self.text[self.pos]
        if char == "{":
            return self.container("map", "}")
        if char == "[":
            return self.container("seq", "]")
        start = self.pos
        node = self.node("scalar", start)
        if char == '"':
            node.style = '"'
            node.text = self.string()
        else:
            match = _NUMBER.match(self.text, start)
            for word in ("true", "false", "null"):
                if self.text.startswith(word, start):
                    self.pos = start + len(word)
                    break
            else:
                if match is None:
                    self.fail("unexpected character")
                self.pos = match.end()
            node.text = self.text[start : self.pos]
        node.end = self.pos
        return node

    def string(self) -> str:
        start = self.pos
        pos = start + 1
        text = self.text
        while True:
            close = text.find('"', pos)
            if close < 0:
                self.fail("unterminated string")
            backslashes = 0
            while text[close - 1 - backslashes] == "\\":
                backslashes += 1
            if backslashes % 2 == 0:
                break
            pos = close + 1
        self.pos = close + 1
        try:
            decoded: str = json.loads(text[start : self.pos])
        except json.JSONDecodeError:
            self.fail("invalid string")
        return decoded

    def container(self, kind: str, closing: str) -> Node:
        node = self.node(kind, self.pos)
        self.pos += 1
        self.skip()
        if self.text.startswith(closing, self.pos):
            self.pos += 1
            node.end = self.pos
            return node
        while True:
            if kind == "map":
                self.skip()
                key = self.value()
                if key.style != '"':
                    self.fail("expected a string key")
                self.skip()
                if not self.text.startswith(":", self.pos):
                    self.fail("expected ':'")
                self.pos += 1
                node.pairs.append((key, self.value()))
            else:
                node.items.append(self.value())
            self.skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            if self.text.startswith(closing, self.pos):
                self.pos += 1
                node.end = self.pos
                return node
            self.fail(f"expected ',' or {closing!r}")


def _line_of(line_starts: list[int], index: int) -> int:
    lo, hi = 0, len(line_starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if line_starts[mid] <= index:
            lo = mid
        else:
            hi = mid - 1
    return lo


# --- rendering ------------------------------------------------------------------------------

_SAFE_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./@+-]*\Z")


def format_number(value: int | float) -> str:
    """A number as a flag file writes it: ``25``, ``2.5``, ``0.001``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if round(value, 3) == value else repr(value)
    return str(value)


def render_scalar(value: Any, fmt: Format, like: Node | None = None) -> str:
    """``value`` written as a scalar of the file, quoted like ``like`` when it is a string.

    Strings that flagkit's YAML 1.2 reader would take for something else (``null``, ``12``,
    ``true``) or that need quoting are double-quoted, even where the old value was plain.
    """
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return format_number(value)
    if not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if fmt == "json":
        return json.dumps(value, ensure_ascii=False)
    style = like.style if like is not None else None
    if style == "'" and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    if style is None and _SAFE_PLAIN.match(value) and _resolve_plain(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


def render_key(key: str, fmt: Format, siblings: Node) -> str:
    """A new key, quoted like its siblings (always double quotes in JSON)."""
    if fmt == "json":
        return json.dumps(key)
    keys = [k for k, _ in siblings.pairs]
    if keys and all(k.style == '"' for k in keys):
        return json.dumps(key)
    if keys and all(k.style == "'" for k in keys):
        return f"'{key}'"
    return key


def insert_key(text: str, mapping: Node, key: str, value: str, fmt: Format, after: int) -> tuple[int, str]:
    """Where and what to insert in ``text`` to add ``key: value`` as the first key of ``mapping``.

    Block mappings get a new line at the indentation of the existing keys, placed directly
    after the line holding index ``after`` (the end of the mapping's own key), so a comment introducing the
    old first key stays with it. Flow mappings (``{...}``, JSON objects) get the pair before
    the first one, on its own line when the pairs are on their own lines.

    Raises:
        SpanError: The layout is not one this function can extend safely.
    """
    new_key = render_key(key, fmt, mapping)
    newline = "\r\n" if "\r\n" in text else "\n"
    if mapping.flow:
        if not mapping.pairs:
            return mapping.start + 1, f"{new_key}: {value}"
        first = mapping.pairs[0][0]
        if first.line == mapping.line:
            addition = f"{new_key}: {value}, "
        else:
            indent = _indent_text(text, first)
            addition = f"{new_key}: {value},{newline}{indent}"
        return first.start, addition
    if not mapping.pairs:  # pragma: no cover - a block mapping always has a pair
        raise SpanError("empty block mapping")
    first = mapping.pairs[0][0]
    line_start = text.rfind("\n", 0, first.start) + 1
    if text[line_start : first.start].strip():
        raise SpanError(f"the mapping on line {first.line + 1} does not start its own line")
    indent = _indent_text(text, first)
    offset = line_start
    while offset > 0:
        previous = text.rfind("\n", 0, offset - 1) + 1
        if previous <= after or not _is_blank_or_comment(text[previous:offset]):
            break
        offset = previous
    return offset, f"{indent}{new_key}: {value}{newline}"


def _indent_text(text: str, node: Node) -> str:
    line_start = text.rfind("\n", 0, node.start) + 1
    prefix = text[line_start : node.start]
    return prefix if not prefix.strip() else " " * node.column


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")
