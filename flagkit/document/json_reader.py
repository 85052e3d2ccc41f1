"""JSON documents: duplicate keys, non-finite numbers and over-long integers refused, each
reported with its line (found through the YAML reader: JSON is YAML 1.2 flow syntax)."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ConfigError, ConfigIssue
from .yaml12 import MAX_DEPTH, Path, line_for, locate_lines, parse_yaml

__all__ = ["parse_json"]


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


class _NonFinite:
    """Stands in for a ``NaN``/``Infinity`` (or overflowing) JSON number until it is reported."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_LONG_INT = re.compile(rb"[0-9]{4301,}")


def _line_at(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def parse_json(data: bytes | str, source: str) -> Any:
    refused: list[str] = []

    def constant(text: str) -> Any:  # NaN, Infinity, -Infinity: not JSON, but Python reads them
        refused.append(text)
        return _NonFinite(text)

    def number(text: str) -> Any:
        value = float(text)
        if value - value != 0.0:  # 1e999 overflows to inf
            refused.append(text)
            return _NonFinite(text)
        return value

    try:
        doc = json.loads(
            data, object_pairs_hook=_reject_duplicates, parse_constant=constant, parse_float=number
        )
    except _DuplicateKey as exc:
        # JSON is YAML 1.2 flow syntax: the YAML reader names both lines.
        try:
            parse_yaml(data, source, None)
        except ConfigError as located:
            raise located from None
        raise ConfigError(ConfigIssue(f"duplicate key {exc.key!r}", (), source)) from None
    except json.JSONDecodeError as exc:
        issue = ConfigIssue(f"invalid JSON: {exc.msg}", (), source, exc.lineno, exc.colno)
        raise ConfigError(issue) from None
    except RecursionError:
        raise _too_deep(data, source) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(ConfigIssue(f"invalid JSON: not UTF-8 ({exc.reason})", (), source)) from None
    except ValueError:  # an integer over Python's 4,300-digit int/str limit
        raw = _as_bytes(data)
        found = _LONG_INT.search(raw)
        line = _line_at(raw, found.start()) if found else None
        raise ConfigError(ConfigIssue("integer with more than 4,300 digits", (), source, line)) from None
    if refused:
        _refuse_non_finite(doc, data, source)
    return doc


def _too_deep(data: bytes | str, source: str) -> ConfigError:
    """The nesting error, with the line where the YAML reader (JSON is YAML flow syntax)
    stops at the same depth cap."""
    message = f"nesting deeper than {MAX_DEPTH} levels"
    try:
        parse_yaml(data, source, None)
    except ConfigError as located:
        first = located.issues[0]
        if "nesting" in first.message:  # ours, or libyaml's own cap at 1,000 levels
            return ConfigError(ConfigIssue(message, first.path, source, first.line))
    return ConfigError(ConfigIssue(message, (), source))


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data


def _refuse_non_finite(doc: Any, data: bytes | str, source: str) -> None:
    """Raise a ConfigError naming every non-finite number, with its path and line."""
    paths: list[tuple[Path, str]] = []
    todo: list[tuple[Path, Any]] = [((), doc)]
    while todo:
        path, node = todo.pop()
        if isinstance(node, _NonFinite):
            paths.append((path, node.text))
        elif isinstance(node, dict):
            todo.extend(((*path, key), value) for key, value in node.items())
        elif isinstance(node, list):
            todo.extend(((*path, i), value) for i, value in enumerate(node))
    marks = locate_lines(data)
    issues = [
        ConfigIssue(f"{text} is not allowed: numbers must be finite", path, source, line_for(marks, path))
        for path, text in sorted(paths, key=lambda item: [str(part) for part in item[0]])
    ]
    raise ConfigError(issues, source)
