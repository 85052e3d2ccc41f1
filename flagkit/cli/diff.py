"""``flagkit diff OLD NEW``: what a change to a flag file does, flag by flag and user by user.

For every flag that is added, removed or changed, the definition changes (field paths with
old and new values) and the *transitions* on a synthetic population — the same users as
``flagkit simulate`` — evaluated with the old and the new file: ``off → on: 4.9 % of users``.
So a reviewer sees the blast radius of a pull request, not just the lines.

``-`` reads one of the files from stdin (``git show main:features.yaml | flagkit diff -
features.yaml``); its format is taken from the other file's name.

Exit codes, like ``diff``: 0 no flag differs, 1 some flag differs, 2 trouble (usage, an
unreadable or invalid file).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..document.reader import MAX_DOCUMENT_BYTES, detect_format, read_document
from ..errors import ConfigError
from ..flagset import FlagSet
from ._common import (
    OK,
    PROBLEMS,
    USAGE,
    Exit,
    clip,
    clock,
    context_of,
    emit_json,
    issue_text,
    plural,
    read_flag_file,
)
from .simulate import id_attributes, population

__all__ = ["FlagDiff", "diff_flagsets", "run_diff"]

ABSENT = "(absent)"
"""The ``from`` of users of an added flag, the ``to`` of users of a removed one."""
ERROR = "(error)"


@dataclass(slots=True)
class FlagDiff:
    """How one flag differs between two versions.

    Attributes:
        key: The flag key.
        status: ``added``, ``removed`` or ``changed``.
        fields: ``(path, old, new)`` per changed field of the definition (``old``/``new`` are
            ``None`` for a field that is absent on that side).
        transitions: ``(old variant, new variant)`` → users, for users whose served variant
            or value changes.
        users: Population size.
        notes: Why a flag with equal definitions behaves differently (a segment changed).
    """

    key: str
    status: str
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    users: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def moved(self) -> int:
        """Users whose variant or value changes."""
        return sum(self.transitions.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "key": self.key,
            "status": self.status,
            "fields": [{"path": p, "old": o, "new": n} for p, o, n in self.fields],
            "transitions": [
                {"from": a, "to": b, "users": n, "share": n / self.users if self.users else 0.0}
                for (a, b), n in self.transitions.most_common()
            ],
            "users_changed": self.moved,
            "users": self.users,
            "notes": self.notes,
        }


def _field_changes(old: Any, new: Any, path: str) -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in [*old, *(k for k in new if k not in old)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append((sub, old[key], None))
            elif key not in old:
                out.append((sub, None, new[key]))
            else:
                out.extend(_field_changes(old[key], new[key], sub))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(_field_changes(a, b, f"{path}[{i}]"))
        return out
    if _same(old, new):
        return []
    return [(path, old, new)]


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and json.dumps(a, sort_keys=True, default=str) == json.dumps(
        b, sort_keys=True, default=str
    )


def diff_flagsets(
    old: FlagSet,
    new: FlagSet,
    old_doc: dict[str, Any],
    new_doc: dict[str, Any],
    *,
    users: int = 10_000,
    context: dict[str, Any] | None = None,
    vary: list[tuple[str, list[Any]]] | None = None,
    seed: int = 0,
) -> list[FlagDiff]:
    """Every flag that differs, in the new file's order (removed flags last)."""
    old_features = old_doc.get("features") or {}
    new_features = new_doc.get("features") or {}
    keys = [*new.flags, *(k for k in old.flags if k not in new.flags)]
    out: list[FlagDiff] = []
    old_table = {k: f.resolve for k, f in old.flags.items()}
    new_table = {k: f.resolve for k, f in new.flags.items()}
    for key in keys:
        before, after = old.flags.get(key), new.flags.get(key)
        if before is not None and after is not None and before.fingerprint == after.fingerprint:
            continue
        status = "added" if before is None else "removed" if after is None else "changed"
        result = FlagDiff(key, status, users=users)
        if status == "changed":
            result.fields = _field_changes(old_features.get(key), new_features.get(key), "")
            if not result.fields:
                result.notes.append("the definition is the same; a segment it uses changed")
        flags = [f for f in (before, after) if f is not None]
        for ctx, _ in population(users, id_attributes(*flags), context=context, vary=vary or (), seed=seed):
            a = _serve(before, ctx, old_table)
            b = _serve(after, ctx, new_table)
            if a != b:
                result.transitions[(a[0], b[0] if b[0] != a[0] else f"{b[0]} (new value)")] += 1
        out.append(result)
    return out


def _serve(flag: Any, ctx: dict[str, Any], table: dict[str, Any]) -> tuple[str, str]:
    if flag is None:
        return ABSENT, ""
    try:
        value, variant, _reason, _rule = flag.resolve(ctx, table)
    except Exception:  # the client serves the caller's default: count it as its own outcome
        return ERROR, ""
    return variant, json.dumps(value, sort_keys=True, default=str)


def _read(path: str, other: str) -> tuple[bytes, str, str]:
    """``(data, label, name for the format)``; ``-`` is stdin."""
    if path != "-":
        return read_flag_file(path), path, path
    data = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
    return data, "<stdin>", other


def _load(data: bytes, label: str, name: str) -> tuple[FlagSet, dict[str, Any]]:
    fmt = detect_format(name)
    try:
        flagset = FlagSet.from_bytes(data, source=label, fmt=fmt, clock=clock())
    except ConfigError as exc:
        lines = [issue_text(issue) for issue in exc.issues]
        raise Exit(USAGE, "\n".join([*lines, f"{label}: invalid flag file; nothing to compare"])) from None
    document = read_document(data, source=label, fmt=fmt)
    return flagset, document


def _show(value: Any) -> str:
    return "(absent)" if value is None else clip(json.dumps(value, ensure_ascii=False, default=str), 60)


def run_diff(args: argparse.Namespace) -> int:
    if args.old == "-" and args.new == "-":
        raise Exit(USAGE, "only one of OLD and NEW can be - (stdin)")
    old_data, old_label, old_name = _read(args.old, args.new)
    new_data, new_label, new_name = _read(args.new, args.old)
    old, old_doc = _load(old_data, old_label, old_name)
    new, new_doc = _load(new_data, new_label, new_name)
    diffs = diff_flagsets(
        old, new, old_doc, new_doc, users=args.users, context=context_of(args), vary=args.attr, seed=args.seed
    )
    counts = Counter(d.status for d in diffs)
    unchanged = len(set(old.flags) & set(new.flags)) - counts["changed"]
    if args.json:
        emit_json(
            {
                "old": old_label,
                "new": new_label,
                "users": args.users,
                "seed": args.seed,
                "changed": bool(diffs),
                "flags": [d.as_dict() for d in diffs],
                "summary": {
                    **{k: counts[k] for k in ("added", "removed", "changed")},
                    "unchanged": unchanged,
                },
            }
        )
        return PROBLEMS if diffs else OK
    if not diffs:
        print(f"{old_label} → {new_label}: no flag changes ({plural(len(new.flags), 'flag')})")
        return OK
    print(f"{old_label} → {new_label} ({plural(args.users, 'simulated user')}, seed {args.seed})")
    marks = {"added": "+", "removed": "-", "changed": "~"}
    for d in diffs:
        print("")
        print(f"{marks[d.status]} {d.key}  {d.status}")
        for path, before, after in d.fields:
            print(f"    {path or '(value)'}: {_show(before)} → {_show(after)}")
        for note in d.notes:
            print(f"    {note}")
        for (a, b), n in d.transitions.most_common():
            print(f"    {a} → {b}: {100 * n / d.users:.2f} % of users ({n:,})")
        if d.users and not d.moved:
            print("    no user changes variant")
        elif d.users and d.moved < d.users:
            print(f"    unchanged: {100 * (d.users - d.moved) / d.users:.2f} % of users")
    print("")
    parts = [f"{counts[k]} {k}" for k in ("added", "removed", "changed") if counts[k]]
    verb = "differs" if len(diffs) == 1 else "differ"
    print(f"{plural(len(diffs), 'flag')} {verb}: {', '.join(parts)}; {unchanged} unchanged")
    return PROBLEMS
