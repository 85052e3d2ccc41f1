"""The shared driver of the editing commands: read, plan, check, diff, write, report.

A command plans an edit as a list of span replacements (from :mod:`._spans`) plus the same
change applied to the parsed document. The driver applies the replacements to the text and
refuses to write unless the result loads with flagkit's own loader *and* parses to exactly
the expected document — so a span in the wrong place can never change anything else.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..document.reader import MAX_DOCUMENT_BYTES, Format, detect_format, read_document
from ..errors import ConfigError
from ..flagset import FlagSet
from ._common import OK, PROBLEMS, Exit, emit_json, reading
from ._spans import Node, SpanError, parse_spans
from ._write import ConcurrentEdit, WriteError, edit_lock, read_for_edit, replace_file

__all__ = ["Change", "EditContext", "EditPlan", "Refused", "run_edit"]


class Refused(Exception):
    """The edit cannot be made as asked (exit 1, with this message)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One value changed by an edit, for the report (``path`` as in error messages)."""

    path: str
    before: Any
    after: Any


@dataclass(slots=True)
class EditPlan:
    """What a command wants to change.

    Attributes:
        replacements: ``(start, end, text)`` spans of the original text to replace
            (``start == end`` inserts).
        mutate: Applies the same change to the parsed document (a deep copy).
        changes: The values changed, for the report.
        notes: Extra lines for the person on call (what the change means).
    """

    replacements: list[tuple[int, int, str]] = field(default_factory=list)
    mutate: Callable[[dict[str, Any]], None] | None = None
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EditContext:
    """The file being edited, as text, parsed document and node tree."""

    path: str
    fmt: Format
    text: str
    document: dict[str, Any]
    root: Node
    flagset: FlagSet

    def flag(self, key: str) -> tuple[Node, Node, Any]:
        """The key node, value node and parsed definition of flag ``key``.

        Raises:
            Refused: The flag is not defined, or is written through an alias.
        """
        features = self.document.get("features") or {}
        if key not in features:
            from ._common import unknown_flag

            raise Refused(unknown_flag(self.flagset, key, self.path))
        mapping = self.root.get("features")
        found = mapping[1].get(key) if mapping is not None and mapping[1].kind == "map" else None
        if found is None or mapping is None or mapping[1].shared:
            raise Refused(f"flag {key!r} is not written directly under `features` (an alias or merge key?)")
        if found[1].shared:
            raise Refused(
                f"flag {key!r} is written once and used in several places (a YAML anchor `&` with "
                "aliases `*` or merge keys `<<`): an edit would change every one of them, so edit it by hand"
            )
        return found[0], found[1], features[key]


def _unshared(value: Any) -> Any:
    """A deep copy in which every alias is its own object (``copy.deepcopy`` keeps them one):
    the expected document changes only where the edit meant to, so a span that also changes
    an aliased place makes the documents differ."""
    if isinstance(value, dict):
        return {k: _unshared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unshared(v) for v in value]
    return value


def _canonical(value: Any) -> Any:
    """Compare documents with 25 == 25.0 and NaN == NaN."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and not isinstance(value, bool):
        if math.isnan(value):
            return "NaN"
        if value.is_integer():
            return int(value)
    return value


def _apply(text: str, replacements: list[tuple[int, int, str]]) -> str:
    out = text
    for start, end, new in sorted(replacements, key=lambda r: (r[0], r[1]), reverse=True):
        out = out[:start] + new + out[end:]
    return out


def _diff(path: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    no_newline = "\n\\ No newline at end of file\n"
    return "".join(line if line.endswith("\n") else line + no_newline for line in lines)


def _load_context(path: str) -> tuple[EditContext, Any]:
    with reading(path, "is not a regular file"):
        original = read_for_edit(path)
    if len(original.data) > MAX_DOCUMENT_BYTES:
        raise Refused(f"{path} is over {MAX_DOCUMENT_BYTES:,} bytes")
    fmt = detect_format(path)
    try:
        flagset = FlagSet.from_bytes(original.data, source=path, fmt=fmt)
    except ConfigError as exc:
        raise Refused(
            f"{path} is not a valid flag file, so it is not edited (`flagkit validate {path}`)\n{exc}"
        ) from None
    try:
        text = original.data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(f"{path} is not UTF-8; flagkit edits only UTF-8 files") from None
    document = read_document(original.data, source=path, fmt=fmt)
    try:
        root = parse_spans(text, fmt)
    except SpanError as exc:
        raise Refused(f"{path}: {exc}") from None
    return EditContext(path, fmt, text, document, root, flagset), original


def run_edit(args: argparse.Namespace, command: str, plan: Callable[[EditContext], EditPlan]) -> int:
    """Run one editing command: ``plan`` decides the change; this does everything else."""
    report: dict[str, Any] = {"file": args.file, "command": command, "key": args.key}
    lock = contextlib.nullcontext() if args.dry_run else edit_lock(args.file)
    try:
        with lock:  # from the read to the rename: a concurrent flagkit edit waits, loses nothing
            context, edit, new_text, written = _edit(args, plan)
    except _NotWritten as failed:
        if args.json:
            emit_json(
                {**report, "changed": True, "written": False, "error": str(failed.error), "diff": failed.diff}
            )
            raise Exit(PROBLEMS) from None
        raise Exit(PROBLEMS, f"flagkit {command}: {failed.error}") from None
    except (Refused, WriteError) as exc:  # WriteError: the edit lock could not be had
        if args.json:
            emit_json({**report, "changed": False, "written": False, "error": str(exc)})
            raise Exit(PROBLEMS) from None
        raise Exit(PROBLEMS, f"flagkit {command}: {exc}") from None
    changed = new_text != context.text
    diff = _diff(args.file, context.text, new_text) if changed else ""
    if args.json:
        emit_json(
            {
                **report,
                "changed": changed,
                "written": written,
                "dry_run": bool(args.dry_run),
                "changes": [
                    {
                        "path": c.path,
                        "before": None if c.before is _ABSENT else c.before,
                        "after": c.after,
                        "added": c.before is _ABSENT,
                    }
                    for c in edit.changes
                ],
                "notes": edit.notes,
                "diff": diff,
            }
        )
        return OK
    if not changed:
        for note in edit.notes:
            print(f"{args.file}: {note}")
        return OK
    for change in edit.changes:
        print(f"{args.file}: {change.path}: {_show(change.before)} → {_show(change.after)}")
    for note in edit.notes:
        print(f"  note: {note}")
    if args.dry_run:
        print("")
        print(diff, end="")
        print("(dry run: nothing written)")
    else:
        print(f"{args.file}: written")
    return OK


class _NotWritten(Exception):
    """The edit was planned and checked, but replacing the file failed."""

    def __init__(self, error: WriteError, diff: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.diff = diff


def _edit(
    args: argparse.Namespace, plan: Callable[[EditContext], EditPlan]
) -> tuple[EditContext, EditPlan, str, bool]:
    """Read, plan, check and (unless a dry run) write: ``(context, plan, new text, written)``."""
    context, original = _load_context(args.file)
    edit = plan(context)
    new_text = _apply(context.text, edit.replacements)
    changed = new_text != context.text
    if not changed:
        return context, edit, new_text, False
    _check(context, edit, new_text)
    if args.dry_run:
        return context, edit, new_text, False
    try:
        replace_file(original, new_text.encode("utf-8"))
    except (ConcurrentEdit, WriteError) as exc:
        raise _NotWritten(exc, _diff(args.file, context.text, new_text)) from None
    return context, edit, new_text, True


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value, ensure_ascii=False)


_ABSENT: Any = type("_Absent", (), {"__repr__": lambda self: "(absent)"})()
ABSENT = _ABSENT
"""``Change.before`` of a key the edit adds."""


def _check(context: EditContext, edit: EditPlan, new_text: str) -> None:
    data = new_text.encode("utf-8")
    try:
        FlagSet.from_bytes(data, source=context.path, fmt=context.fmt)
    except ConfigError as exc:
        raise Refused(f"the edited file would not load, so nothing was written:\n{exc}") from None
    expected = _unshared(context.document)
    if edit.mutate is not None:
        edit.mutate(expected)
    actual = read_document(data, source=context.path, fmt=context.fmt)
    if _canonical(actual) != _canonical(expected):  # a bug in locating spans: never write it
        raise Refused(
            "the edit would change more than the values asked for (please report this file's layout "
            "as a flagkit bug); nothing was written"
        )
