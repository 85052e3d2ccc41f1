"""Pieces every ``flagkit`` command shares: exit codes, argument types, reading and loading
flag files, JSON output and plain-text tables."""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
import os
import tomllib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._engine.ramps import Clock
from .._engine.schemes import parse_template
from .._tools.check import check_document
from .._tools.lint import LintWarning
from .._tools.values import parse_value
from ..document.reader import MAX_DOCUMENT_BYTES, missing_file_message
from ..document.schema import BucketInput
from ..errors import ConfigIssue, format_path
from ..flagset import FlagSet
from ..jsonsafe import dumps

OK, PROBLEMS, USAGE = 0, 1, 2


class Exit(Exception):
    """Stop the command with a message on stderr and an exit code."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


BUCKETING_ATTRIBUTES = frozenset({"targeting_key", "user_id"})
"""Attributes hashed for percentage splits (plus each flag's ``bucket_by``): from ``-c`` they
stay strings, as web frameworks pass them (Django: ``str(user.pk)``)."""


class _Typed(str):
    """A ``-c attr=value`` value as typed; :func:`context_of` converts it (it knows the flags)."""

    __slots__ = ()


def assignment(text: str) -> tuple[str, Any]:
    """``-c attr=value`` (converted by :func:`context_of`) or ``-c attr:=JSON`` (taken as is)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or name.strip() == ":":
        raise argparse.ArgumentTypeError(f"expected attr=value or attr:=JSON, got {text!r}")
    if name.endswith(":"):
        try:
            return name[:-1].strip(), json.loads(value)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"{name[:-1].strip()}:= expects JSON ({exc.msg})") from None
    return name.strip(), _Typed(value)


def bucketing_attributes(flagset: FlagSet) -> frozenset[str]:
    """``targeting_key``, ``user_id`` and every attribute a ``bucket_by`` of ``flagset`` hashes."""
    extra: set[str] = set()
    for flag in flagset.flags.values():
        definition = flag.definition
        bucket_by = definition.bucket_by if definition is not None else None
        if isinstance(bucket_by, BucketInput):
            extra.update(attr for _, attr in parse_template(bucket_by.input, flag.key) if attr is not None)
        elif bucket_by:
            extra.add(bucket_by)
    return BUCKETING_ATTRIBUTES | extra


def variation(text: str) -> tuple[str, list[Any]]:
    name, sep, values = text.partition("=")
    items = [item.strip() for item in values.split(",") if item.strip()]
    if not sep or not name.strip() or not items:
        raise argparse.ArgumentTypeError(f"expected attr=value1,value2,..., got {text!r}")
    return name.strip(), [parse_value(item) for item in items]


def date_arg(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-01-31, got {text!r}") from None


def instant(text: str) -> float:
    """``--now``: an ISO 8601 date or date-time (UTC unless it names an offset) → epoch seconds."""
    try:
        if len(text) == 10:
            when = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
        else:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date or time like 2026-12-24 or 2026-12-24T18:00:00Z, got {text!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def positive(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


FILE_ENV = "FLAGKIT_FILE"
"""Environment variable naming the project's flag file (as Flask's ``FLAGKIT_FILE`` setting)."""


def project_settings() -> tuple[Path, dict[str, Any]] | None:
    """``[tool.flagkit]`` of the nearest ``pyproject.toml`` at or above the working directory, with
    that file's path; ``None`` when there is none (or it has no such table).

    Raises:
        Exit: ``USAGE`` when the pyproject.toml cannot be read or parsed.
    """
    here = Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise Exit(USAGE, f"{_shown(candidate)}: cannot read [tool.flagkit]: {exc}") from None
            settings = data.get("tool", {}).get("flagkit")
            if settings is None:
                return None
            if not isinstance(settings, dict):
                raise Exit(USAGE, f"{_shown(candidate)}: [tool.flagkit] must be a table")
            return candidate, settings
    return None


def _shown(path: Path) -> str:
    """``path`` relative to the working directory (the pyproject.toml is at or above it)."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def configured_flag_file() -> str | None:
    """The project's flag file: ``$FLAGKIT_FILE``, else ``file`` in ``[tool.flagkit]`` of the
    nearest pyproject.toml (relative to that file's folder); ``None`` when neither is set.

    Raises:
        Exit: ``USAGE`` for an unreadable pyproject.toml or a ``file`` that is not a string.
    """
    env = os.environ.get(FILE_ENV)
    if env:
        return _existing(env, f"${FILE_ENV}")
    found = project_settings()
    if found is None or "file" not in found[1]:
        return None
    pyproject, settings = found
    value = settings["file"]
    if not isinstance(value, str) or not value:
        raise Exit(USAGE, f"{_shown(pyproject)}: [tool.flagkit] file must be a path (a string)")
    return _existing(_shown(pyproject.parent / value), f"file in {_shown(pyproject)} [tool.flagkit]")


def _existing(path: str, origin: str) -> str:
    """``path``, checked: a configured file that is missing says who named it (a stale
    ``$FLAGKIT_FILE`` is otherwise a riddle)."""
    if not os.path.exists(path):
        raise Exit(USAGE, f"{missing_file(path)} (from {origin})")
    return path


def missing_file(path: str) -> str:
    """``"PATH: no such file"``, with the file probably meant when one is beside it (as
    ``Flags.from_file`` says it)."""
    return f"{path}: {missing_file_message(path)}"


NO_FILE = (
    "no flag file given: pass FILE, set $FLAGKIT_FILE, or add to pyproject.toml:\n"
    '  [tool.flagkit]\n  file = "config/features.yaml"'
)


def resolve_flag_files(args: argparse.Namespace) -> None:
    """Fill in an omitted flag file from the configuration (explicit paths always win).

    Raises:
        Exit: ``USAGE`` when a command needs a flag file and none is given or configured.
    """
    if args.command == "demo":
        return  # the demo falls back on its bundled example flags
    for name, many in (("file", False), ("files", True), ("flags", True)):
        if not hasattr(args, name) or getattr(args, name):
            continue
        key = getattr(args, "key", None)
        if name == "file" and isinstance(key, str) and key.endswith((".yaml", ".yml", ".json")):
            # `flagkit eval config/features.yaml`: the one argument is the file, the key is missing.
            value = getattr(args, "value", None)
            if isinstance(value, str):  # `flagkit set FILE KEY`: the key is there, the value is not
                raise Exit(
                    USAGE,
                    f"{args.command}: {key!r} looks like the flag file and {value!r} the flag KEY; "
                    "the VALUE is missing",
                )
            raise Exit(USAGE, f"{args.command}: {key!r} looks like the flag file; the flag KEY is missing")
        configured = configured_flag_file()
        if configured is None:
            raise Exit(USAGE, NO_FILE)
        setattr(args, name, [configured] if many else configured)


def emit_json(data: Any) -> None:
    print(dumps(data, indent=2, ensure_ascii=False))


@contextmanager
def reading(path: str, directory: str = "is a directory, not a flag file") -> Iterator[None]:
    """A failed read of ``path`` inside the block becomes the usage error every command prints
    (``directory``: what to say when ``path`` is a directory)."""
    try:
        yield
    except FileNotFoundError:
        raise Exit(USAGE, missing_file(path)) from None
    except IsADirectoryError:
        raise Exit(USAGE, f"{path}: {directory}") from None
    except OSError as exc:
        raise Exit(USAGE, f"{path}: cannot read ({exc.strerror or exc})") from None


def read_flag_file(path: str) -> bytes:
    with reading(path), open(path, "rb") as fh:
        return fh.read(MAX_DOCUMENT_BYTES + 1)


# issue_dict and warning_dict are alike in shape, not a copy: two record types whose fields
# differ (an error's column, a warning's code), in the key order the JSON output documents.
def issue_dict(issue: ConfigIssue) -> dict[str, Any]:
    return {
        "file": issue.source,
        "line": issue.line,
        **({"column": issue.column} if issue.column is not None else {}),
        "path": format_path(issue.path),
        "flag": issue.flag,
        "message": issue.message,
    }


def warning_dict(warning: LintWarning) -> dict[str, Any]:
    return {
        "file": warning.source,
        "line": warning.line,
        "path": format_path(warning.path),
        "flag": warning.flag,
        "code": warning.code,
        "message": warning.message,
    }


def issue_text(issue: ConfigIssue, kind: str = "error") -> str:
    field = format_path(issue.path)
    return f"{issue.location}: {kind}: {field + ': ' if field else ''}{issue.message}"


FIXED_NOW: float | None = None
"""``--now`` (seconds since the epoch), set once per process by the command line before any
file is loaded: ``now`` conditions *and* ramps then evaluate at that time."""


def clock() -> Clock | None:
    """The clock flag files are compiled with: ``--now`` when given, else the real one (None)."""
    at = FIXED_NOW
    return None if at is None else lambda: at


def load(path: str, as_json: bool) -> FlagSet:
    """Load a flag file for eval/simulate/scan/demo; invalid files stop the command (exit 1)."""
    checked = check_document(read_flag_file(path), path, warnings=False, clock=clock())
    if checked.flagset is not None:
        return checked.flagset
    if as_json:
        emit_json({"file": path, "valid": False, "errors": [issue_dict(i) for i in checked.errors]})
        raise Exit(PROBLEMS)
    lines = [issue_text(issue) for issue in checked.errors]
    lines.append(f"{path}: invalid flag file; run `flagkit validate {path}` for details")
    raise Exit(PROBLEMS, "\n".join(lines))


def unknown_flag(flagset: FlagSet, key: str, path: str) -> str:
    close = difflib.get_close_matches(key, list(flagset.flags), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"flag {key!r} is not defined in {path}{hint}"


def context_of(args: argparse.Namespace, bucketing: Collection[str] = BUCKETING_ATTRIBUTES) -> dict[str, Any]:
    """The context from ``--context-json`` and ``-c`` (applied on top).

    ``-c`` values of the ``bucketing`` attributes stay strings (``-c user_id=7`` is ``"7"``);
    others are parsed by :func:`parse_value`; ``-c attr:=JSON`` and ``--context-json`` values
    are taken as written.
    """
    context: dict[str, Any] = {}
    if args.context_json is not None:
        try:
            parsed = json.loads(args.context_json, parse_constant=_not_json)
        except json.JSONDecodeError as exc:
            raise Exit(USAGE, f"--context-json: invalid JSON ({exc.msg})") from None
        except ValueError as exc:  # NaN / Infinity, or an integer over 4,300 digits
            raise Exit(USAGE, f"--context-json: invalid JSON ({exc})") from None
        if not isinstance(parsed, dict):
            raise Exit(USAGE, '--context-json: expected a JSON object like \'{"user_id": "u-1"}\'')
        context.update(parsed)
    for name, value in args.context or []:
        if isinstance(value, _Typed):
            value = str(value) if name in bucketing else parse_value(str(value))
        context[name] = value
    return context


def _not_json(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number")


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_table(rows: list[list[str]], right: Collection[int] = (), indent: str = "") -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print((indent + "  ".join(cells)).rstrip())
