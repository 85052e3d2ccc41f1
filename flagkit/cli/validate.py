"""``flagkit validate``: every error with file:line, then the lint warnings."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from .. import flagset as flagset_module
from .._engine.ramps import ramps_of
from .._tools.check import check_document
from ..document.reader import line_for, locate_lines
from ..errors import format_path
from ..flagset import FlagSet
from ._common import (
    OK,
    PROBLEMS,
    clock,
    emit_json,
    issue_dict,
    issue_text,
    plural,
    read_flag_file,
    warning_dict,
)
from .usage_report import print_not_evaluated, usage_report


def run_validate(args: argparse.Namespace) -> int:
    now = getattr(args, "now", None)
    today = args.today or (
        dt.datetime.fromtimestamp(now, dt.UTC).date() if now is not None else dt.date.today()
    )
    report: list[dict[str, Any]] = []
    total_errors = total_warnings = 0
    keys: set[str] = set()  # every flag defined, for --usage
    for path in args.files:
        data = read_flag_file(path)
        entry: dict[str, Any] = {"file": path, "valid": True, "flags": 0, "errors": [], "warnings": []}
        report.append(entry)
        checked = check_document(data, path, today=today, clock=clock())
        flagset, warnings = checked.flagset, checked.warnings
        if flagset is None:
            entry["valid"] = False
            entry["errors"] = [issue_dict(i) for i in checked.errors]
            total_errors += len(checked.errors)
            if not args.json:
                for issue in checked.errors:
                    print(issue_text(issue))
                print(f"{path}: invalid ({plural(len(checked.errors), 'error')})")
            continue
        entry["flags"] = len(flagset)
        keys.update(flagset.flags)
        entry["warnings"] = [warning_dict(w) for w in warnings]
        ramps = ramp_lines(flagset, data, path)
        if ramps:
            entry["ramps"] = [info for info, _ in ramps]
        total_warnings += len(warnings)
        if not args.json:
            for warning in warnings:
                field = format_path(warning.path)
                where = f"{path}:{warning.line}" if warning.line else path
                print(f"{where}: warning: {field}: {warning.message} [{warning.code}]")
            for _, line in ramps:
                print(line)
            summary = f"{plural(len(warnings), 'warning')}" if warnings else "ok"
            print(f"{path}: {summary} ({plural(len(flagset), 'flag')})")
    usage = usage_report(args, keys)
    stale = bool(usage and usage["flags"])
    failed = total_errors > 0 or (args.strict and (total_warnings > 0 or stale))
    if args.json:
        emit_json(
            {
                "valid": total_errors == 0,
                "errors": total_errors,
                "warnings": total_warnings,
                "strict": args.strict,
                "files": report,
                **({"not_evaluated": usage} if usage is not None else {}),
            }
        )
    elif len(args.files) > 1:
        print(f"{plural(len(args.files), 'file')}: {plural(total_errors, 'error')}, "
              f"{plural(total_warnings, 'warning')}")  # fmt: skip
    if usage is not None and not args.json:
        print_not_evaluated(usage)
    return PROBLEMS if failed else OK


def ramp_lines(flagset: FlagSet, data: bytes | str, source: str) -> list[tuple[dict[str, Any], str]]:
    """Each ramp's state now, as JSON-ready data and a ``file:line: ramp: ...`` line (validate)."""
    document = flagset.document
    if document is None:
        return []
    ramps = ramps_of(document, flagset_module.now())
    marks = locate_lines(data) if ramps else {}
    out = []
    for ramp in ramps:
        line = line_for(marks, ramp.path)
        where = f"{source}:{line}" if line else source
        text = f"{where}: ramp: {format_path(ramp.path)}: {ramp.variant} {ramp.state.describe()}"
        killed = not getattr(document.features.get(str(ramp.path[1])), "enabled", True)
        if killed:
            text += " (the flag is killed, enabled: false: the ramp is not served)"
        entry = {"path": format_path(ramp.path), "line": line, **ramp.state.as_dict(), "killed": killed}
        out.append((entry, text))
    return out
