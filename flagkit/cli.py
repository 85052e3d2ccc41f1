"""The ``flagkit`` command line: validate, eval, simulate, scan, schema and demo.

Exit codes: 0 all good, 1 problems found (invalid flags, warnings with ``--strict``, undefined
or expired flags in code, an unknown flag key), 2 usage errors (bad arguments, unreadable files).
Every command takes ``--json`` for machine-readable output on stdout. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import gc
import io
import json
import os
import re
import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .check import check_document
from .errors import ConfigIssue, format_path
from .explain import explain, render_explanation, show
from .flagset import FlagSet
from .lint import LintWarning
from .loading import MAX_DOCUMENT_BYTES

__all__ = ["main", "parse_value"]

OK, PROBLEMS, USAGE = 0, 1, 2

_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?\Z")


class _Exit(Exception):
    """Stop the command with a message on stderr and an exit code."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_value(text: str) -> Any:
    """Parse a ``-c attr=value`` value.

    ``true``/``false`` become booleans, integers and decimals become numbers, text in double or
    single quotes becomes the text inside (``'"3.10"'`` stays a string), anything else is a
    string as written.
    """
    if text in ("true", "false"):
        return text == "true"
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _assignment(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected attr=value, got {text!r}")
    return name.strip(), parse_value(value)


def _variation(text: str) -> tuple[str, list[Any]]:
    name, sep, values = text.partition("=")
    items = [item.strip() for item in values.split(",") if item.strip()]
    if not sep or not name.strip() or not items:
        raise argparse.ArgumentTypeError(f"expected attr=value1,value2,..., got {text!r}")
    return name.strip(), [parse_value(item) for item in items]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-01-31, got {text!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# --- shared helpers -----------------------------------------------------------------------


def _emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_DOCUMENT_BYTES + 1)
    except FileNotFoundError:
        raise _Exit(USAGE, f"{path}: no such file") from None
    except IsADirectoryError:
        raise _Exit(USAGE, f"{path}: is a directory, not a flag file") from None
    except OSError as exc:
        raise _Exit(USAGE, f"{path}: cannot read ({exc.strerror or exc})") from None


def _issue_dict(issue: ConfigIssue) -> dict[str, Any]:
    return {
        "file": issue.source,
        "line": issue.line,
        "path": format_path(issue.path),
        "flag": issue.flag,
        "message": issue.message,
    }


def _warning_dict(warning: LintWarning) -> dict[str, Any]:
    return {
        "file": warning.source,
        "line": warning.line,
        "path": format_path(warning.path),
        "flag": warning.flag,
        "code": warning.code,
        "message": warning.message,
    }


def _issue_text(issue: ConfigIssue, kind: str = "error") -> str:
    field = format_path(issue.path)
    return f"{issue.location}: {kind}: {field + ': ' if field else ''}{issue.message}"


def _load(path: str, as_json: bool) -> FlagSet:
    """Load a flag file for eval/simulate/scan/demo; invalid files stop the command (exit 1)."""
    checked = check_document(_read(path), path, warnings=False)
    if checked.flagset is not None:
        return checked.flagset
    if as_json:
        _emit_json({"file": path, "valid": False, "errors": [_issue_dict(i) for i in checked.errors]})
        raise _Exit(PROBLEMS)
    lines = [_issue_text(issue) for issue in checked.errors]
    lines.append(f"{path}: invalid flag file; run `flagkit validate {path}` for details")
    raise _Exit(PROBLEMS, "\n".join(lines))


def _unknown_flag(flagset: FlagSet, key: str, path: str) -> str:
    close = difflib.get_close_matches(key, list(flagset.flags), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"flag {key!r} is not defined in {path}{hint}"


def _context(args: argparse.Namespace) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if args.context_json is not None:
        try:
            parsed = json.loads(args.context_json)
        except json.JSONDecodeError as exc:
            raise _Exit(USAGE, f"--context-json: invalid JSON ({exc.msg})") from None
        if not isinstance(parsed, dict):
            raise _Exit(USAGE, '--context-json: expected a JSON object like \'{"user_id": "u-1"}\'')
        context.update(parsed)
    context.update(args.context or [])
    return context


# --- validate -----------------------------------------------------------------------------


def _cmd_validate(args: argparse.Namespace) -> int:
    today = args.today or dt.date.today()
    report: list[dict[str, Any]] = []
    total_errors = total_warnings = 0
    for path in args.files:
        data = _read(path)
        entry: dict[str, Any] = {"file": path, "valid": True, "flags": 0, "errors": [], "warnings": []}
        report.append(entry)
        checked = check_document(data, path, today=today)
        flagset, warnings = checked.flagset, checked.warnings
        if flagset is None:
            entry["valid"] = False
            entry["errors"] = [_issue_dict(i) for i in checked.errors]
            total_errors += len(checked.errors)
            if not args.json:
                for issue in checked.errors:
                    print(_issue_text(issue))
                print(f"{path}: invalid ({_plural(len(checked.errors), 'error')})")
            continue
        entry["flags"] = len(flagset)
        entry["warnings"] = [_warning_dict(w) for w in warnings]
        total_warnings += len(warnings)
        if not args.json:
            for warning in warnings:
                field = format_path(warning.path)
                where = f"{path}:{warning.line}" if warning.line else path
                print(f"{where}: warning: {field}: {warning.message} [{warning.code}]")
            summary = f"{_plural(len(warnings), 'warning')}" if warnings else "ok"
            print(f"{path}: {summary} ({_plural(len(flagset), 'flag')})")
    failed = total_errors > 0 or (args.strict and total_warnings > 0)
    if args.json:
        _emit_json(
            {
                "valid": total_errors == 0,
                "errors": total_errors,
                "warnings": total_warnings,
                "strict": args.strict,
                "files": report,
            }
        )
    elif len(args.files) > 1:
        print(f"{_plural(len(args.files), 'file')}: {_plural(total_errors, 'error')}, "
              f"{_plural(total_warnings, 'warning')}")  # fmt: skip
    return PROBLEMS if failed else OK


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# --- eval ---------------------------------------------------------------------------------


def _cmd_eval(args: argparse.Namespace) -> int:
    flagset = _load(args.file, args.json)
    context = _context(args)
    if args.key not in flagset.flags:
        message = _unknown_flag(flagset, args.key, args.file)
        if args.json:
            _emit_json(
                {
                    "key": args.key,
                    "value": None,
                    "variant": None,
                    "reason": "ERROR",
                    "rule": None,
                    "error_code": "FLAG_NOT_FOUND",
                    "error_message": message,
                    "context": context,
                }
            )
            return PROBLEMS
        raise _Exit(PROBLEMS, message)
    from .demo import client_for

    with client_for(flagset) as flags:
        result = flags.evaluate(args.key, None, context)
    trace = explain(flagset, args.key, context) if args.explain else None
    if args.json:
        out = {**result.as_dict(), "context": context}
        if trace is not None:
            out["explanation"] = trace.as_dict()
        _emit_json(out)
        return OK if not result.is_error else PROBLEMS
    print(f"{args.key} = {show(result.value)}")
    print(f"  variant  {result.variant}")
    print(f"  reason   {result.reason}")
    print(f"  rule     {result.rule or '-'}")
    if result.error_message:
        print(f"  error    {result.error_code}: {result.error_message}")
    print(f"  context  {show(context)}")
    if trace is not None:
        print("")
        print("Trace:")
        for line in render_explanation(trace, "  "):
            print(line)
    return OK if not result.is_error else PROBLEMS


# --- simulate -----------------------------------------------------------------------------


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import simulate

    flagset = _load(args.file, args.json)
    if args.key not in flagset.flags:
        raise _Exit(PROBLEMS, _unknown_flag(flagset, args.key, args.file))
    result = simulate(
        flagset, args.key, args.users, context=_context(args), vary=args.attr or [], seed=args.seed
    )
    if args.json:
        _emit_json({**result.as_dict(), "seed": args.seed})
        return OK
    print(f"{args.key}: {result.users:,} simulated users (seed {args.seed})")
    print("")
    rows = [["variant", "value", "users", "share"]]
    for name, value in result.variants.items():
        rows.append(
            [name, _clip(show(value)), f"{result.counts[name]:,}", f"{100 * result.share(name):.2f} %"]
        )
    _print_table(rows, right={2, 3})
    print("")
    print("by outcome:")
    rows = [["variant", "reason", "rule", "users", "share"]]
    for (variant, reason, rule), n in result.outcomes.most_common():
        rows.append([variant, reason, rule or "-", f"{n:,}", f"{100 * n / result.users:.2f} %"])
    _print_table(rows, right={3, 4}, indent="  ")
    for attr, groups in result.by_attribute.items():
        print("")
        print(f"by {attr}:")
        names = list(result.variants)
        rows = [[attr, "users", *names]]
        for value, counts in groups.items():
            size = sum(counts.values())
            cells = [f"{100 * counts[n] / size:.1f} % ({counts[n]:,})" if size else "-" for n in names]
            rows.append([show(value) if not isinstance(value, str) else value, f"{size:,}", *cells])
        _print_table(rows, right=set(range(1, len(names) + 2)), indent="  ")
    if result.errors:
        print(f"\n{_plural(result.errors, 'evaluation')} failed (reason ERROR)")
    return OK


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_table(rows: list[list[str]], right: Collection[int] = (), indent: str = "") -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print((indent + "  ".join(cells)).rstrip())


# --- scan ---------------------------------------------------------------------------------


def _cmd_scan(args: argparse.Namespace) -> int:
    from .scan import debt_report, scan_paths

    flagsets = [_load(path, args.json) for path in args.flags]
    try:
        result = scan_paths(args.paths)
    except FileNotFoundError as exc:
        raise _Exit(USAGE, str(exc)) from None
    report = debt_report(result, flagsets, today=args.today)
    failed = report.problems or (args.strict and bool(report.unused))
    definitions = {k: f.definition for fs in flagsets for k, f in fs.flags.items()}
    if args.json:
        _emit_json(
            {
                "files": result.files,
                "references": len(result.references),
                "flags_used": report.used,
                "undefined": [
                    {
                        "key": key,
                        "suggestion": report.suggestions.get(key),
                        "references": [_ref(r) for r in refs],
                    }
                    for key, refs in report.undefined.items()
                ],
                "expired": [
                    {"key": key, "expires": date.isoformat(), "references": [_ref(r) for r in refs]}
                    for key, (date, refs) in report.expired.items()
                ],
                "unused": [
                    {"key": key, "owner": getattr(definitions.get(key), "owner", None)}
                    for key in report.unused
                ],
                "dynamic": [_ref(r) for r in result.dynamic],
                "errors": [{"file": f, "message": m} for f, m in result.errors],
                "strict": args.strict,
            }
        )
        return PROBLEMS if failed else OK
    print(
        f"Scanned {_plural(result.files, 'file')}: {_plural(len(result.references), 'reference')} "
        f"to {_plural(report.used, 'defined flag')}"
    )
    if report.undefined:
        print("\nUsed in code but not defined (typos?):")
        for key, refs in report.undefined.items():
            hint = f"  (did you mean {report.suggestions[key]}?)" if key in report.suggestions else ""
            print(f"  {key}{hint}")
            _print_refs(refs)
    if report.expired:
        print("\nExpired but still used (remove the flag and its code paths):")
        for key, (date, refs) in report.expired.items():
            print(f"  {key}  (expired {date.isoformat()})")
            _print_refs(refs)
    if report.unused:
        print("\nDefined but never used in the scanned code (stale?):")
        for key in report.unused:
            definition = definitions.get(key)
            owner = f"  (owner {definition.owner})" if definition is not None and definition.owner else ""
            print(f"  {key}{owner}")
    if result.dynamic:
        print(f"\nDynamic keys, not checked ({len(result.dynamic)}):")
        _print_refs(result.dynamic)
    if result.errors:
        print(f"\nSkipped {_plural(len(result.errors), 'file')}:")
        for where, message in result.errors:
            print(f"    {where}: {message}")
    if not (report.undefined or report.expired or report.unused):
        print("No flag debt found.")
    return PROBLEMS if failed else OK


def _ref(ref: Any) -> dict[str, Any]:
    return {"file": ref.file, "line": ref.line, "how": ref.how}


def _print_refs(refs: Sequence[Any], limit: int = 10) -> None:
    for ref in refs[:limit]:
        print(f"    {ref.location}  {ref.how}")
    if len(refs) > limit:
        print(f"    ... and {len(refs) - limit} more")


# --- schema and demo ----------------------------------------------------------------------


def _cmd_schema(args: argparse.Namespace) -> int:
    from .schema import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False)
    if args.output:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise _Exit(USAGE, f"{args.output}: cannot write ({exc.strerror or exc})") from None
        if not args.json:
            print(f"wrote {args.output}", file=sys.stderr)
        return OK
    print(text)
    return OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import SAMPLE_USERS, client_for, render_demo

    path = args.file
    if path is None:
        if not Path("examples/features.yaml").is_file():
            raise _Exit(USAGE, "no FILE given and examples/features.yaml not found here")
        path = "examples/features.yaml"
    flagset = _load(path, args.json)
    if args.json:
        with client_for(flagset) as flags:
            flags_out = {
                key: [
                    {"user": user["name"], **flags.evaluate(key, None, user).as_dict()}
                    for user in SAMPLE_USERS
                ]
                for key in flagset.flags
            }
        _emit_json({"file": path, "users": list(SAMPLE_USERS), "flags": flags_out})
        return OK
    render_demo(flagset, source=path)
    return OK


# --- parser -------------------------------------------------------------------------------

_CONTEXT_HELP = (
    "context attribute; values: true/false → booleans, 12 / 1.5 → numbers, "
    "'\"text\"' (quoted) → string, anything else → string as written. Repeatable."
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``flagkit`` (exposed for docs and tests)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")

    context = argparse.ArgumentParser(add_help=False)
    context.add_argument(
        "-c", "--context", action="append", type=_assignment, metavar="ATTR=VALUE", help=_CONTEXT_HELP
    )
    context.add_argument(
        "--context-json", metavar="JSON", help="context as a JSON object; -c attributes are applied on top"
    )

    parser = argparse.ArgumentParser(
        prog="flagkit",
        description="Validate, evaluate, explain, simulate and scan flagkit flag files.",
        epilog="Exit codes: 0 ok, 1 problems found, 2 usage error. Docs: docs/cli.md",
    )
    parser.add_argument("--version", action="version", version=f"flagkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, handler: Callable[[argparse.Namespace], int], text: str, *parents: Any) -> Any:
        cmd = sub.add_parser(name, help=text, description=text, parents=[common, *parents])
        cmd.set_defaults(handler=handler)
        return cmd

    validate = command("validate", _cmd_validate, "check flag files: errors with file:line, and warnings")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    validate.add_argument("--today", type=_date, metavar="DATE", help="date to check `expires` against")

    ev = command("eval", _cmd_eval, "evaluate one flag for a context", context)
    ev.add_argument("file", metavar="FILE")
    ev.add_argument("key", metavar="KEY")
    ev.add_argument("--explain", action="store_true", help="show every rule and condition tried")

    sim = command("simulate", _cmd_simulate, "evaluate a flag for a synthetic population", context)
    sim.add_argument("file", metavar="FILE")
    sim.add_argument("key", metavar="KEY")
    sim.add_argument(
        "--users", type=_positive, default=10_000, metavar="N", help="population (default 10000)"
    )
    sim.add_argument(
        "--attr",
        action="append",
        type=_variation,
        metavar="ATTR=V1,V2",
        help="spread users evenly over these values of an attribute; repeatable (combinations)",
    )
    sim.add_argument("--seed", type=int, default=0, help="changes the generated user ids (default 0)")

    scan = command("scan", _cmd_scan, "find flag keys used in code; report typos, stale and expired flags")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    scan.add_argument(
        "--flags", action="append", required=True, metavar="FILE", help="flag file (repeatable)"
    )
    scan.add_argument("--strict", action="store_true", help="exit 1 on unused flags too")
    scan.add_argument("--today", type=_date, metavar="DATE", help="date to check `expires` against")

    schema = command("schema", _cmd_schema, "print the JSON Schema of the flag file format")
    schema.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    demo = command("demo", _cmd_demo, "evaluate every flag of a file for 20 sample users")
    demo.add_argument("file", nargs="?", metavar="FILE", help="default: examples/features.yaml")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    args = build_parser().parse_args(argv)
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # ✓/✗/→ on a terminal that cannot show them
            stream.reconfigure(errors="replace")
    # A short-lived process: skipping cyclic GC while a large document is built and compiled
    # halves the load time of big files (nothing here creates garbage cycles that matter).
    gc.disable()
    try:
        code: int = args.handler(args)
    except _Exit as exc:
        if exc.message:
            print(f"flagkit: {exc.message}" if exc.code == USAGE else exc.message, file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `flagkit schema | head`: stop quietly, like other CLI tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return OK
    return code
