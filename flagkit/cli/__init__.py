"""The ``flagkit`` command line: validate, eval, simulate, scan, schema, publish, demo, the
editing commands (set, kill, revive, rollout) and diff.

One module per command (``validate``, ``evaluate``, ``simulate``, ``scan``, ``schema``,
``publish``, ``demo``, ``edit``, ``diff``), each with a ``run_*`` handler, over ``_common``
(what they share): argument wiring and rendering. The analyses behind them (check, lint,
explain) are library code in :mod:`flagkit._tools`, shared with the status page.
``import flagkit`` never imports this package.

Exit codes: 0 all good, 1 problems found (invalid flags, warnings with ``--strict``, undefined
or expired flags in code, an unknown flag key), 2 usage errors (bad arguments, unreadable files).
Every command takes ``--json`` for machine-readable output on stdout. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .. import __version__, flagset
from .._links import doc_url
from .._tools.values import parse_value
from ..jsonsafe import dumps
from . import _common
from ._common import OK, USAGE, Exit, assignment, date_arg, instant, positive, variation
from .demo import run_demo
from .diff import run_diff
from .edit import percent_arg, run_kill, run_revive, run_rollout, run_set
from .evaluate import run_eval
from .publish import run_publish
from .scan import run_scan
from .schema import run_schema
from .simulate import run_simulate
from .usage_report import add_usage_arguments, check_usage_arguments
from .validate import run_validate

__all__ = ["build_parser", "main", "parse_value"]

_CONTEXT_HELP = (
    "context attribute; values: true/false → booleans, 12 / 1.5 → numbers, "
    "'\"text\"' (quoted) → string, anything else → string as written; the bucketing attributes "
    "(targeting_key, user_id, the flags' bucket_by) always stay strings, as web apps pass them. "
    "ATTR:=JSON takes a JSON value as written (-c user_id:=7 is the number 7). Repeatable."
)


_FILE_HELP = "the flag file (default: $FLAGKIT_FILE, else `file` in [tool.flagkit] of pyproject.toml)"

_NOW_HELP = (
    "evaluate as if the clock showed TIME (ISO 8601, e.g. 2026-12-24 or 2026-12-24T18:00:00Z; "
    "UTC unless an offset is given): check `now` time-window rules ahead of time"
)


class _UsageError(SystemExit):
    """An argument error: argparse's text for stderr, and the bare message for ``--json``."""

    def __init__(self, text: str, message: str) -> None:
        super().__init__(USAGE)
        self.text = text
        self.message = message


class _Parser(argparse.ArgumentParser):
    """argparse, with argument errors raised (as :class:`_UsageError`) so ``main`` can also
    print them as the documented ``{"error": ..., "exit_code": 2}`` under ``--json``."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.format_usage()}{self.prog}: error: {message}", message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``flagkit`` (exposed for docs and tests)."""
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")

    context = _Parser(add_help=False)
    context.add_argument(
        "-c", "--context", action="append", type=assignment, metavar="ATTR=VALUE", help=_CONTEXT_HELP
    )
    context.add_argument(
        "--context-json", metavar="JSON", help="context as a JSON object; -c attributes are applied on top"
    )
    context.add_argument("--now", type=instant, metavar="TIME", help=_NOW_HELP)

    parser = _Parser(
        prog="flagkit",
        description="Validate, evaluate, explain, simulate and scan flagkit flag files.",
        epilog=f"Exit codes: 0 ok, 1 problems found, 2 usage error. Docs: {doc_url('cli')}",
    )
    parser.add_argument("--version", action="version", version=f"flagkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, handler: Callable[[argparse.Namespace], int], text: str, *parents: Any) -> Any:
        cmd = sub.add_parser(name, help=text, description=text, parents=[common, *parents])
        cmd.set_defaults(handler=handler)
        return cmd

    validate = command("validate", run_validate, "check flag files: errors with file:line, and warnings")
    validate.add_argument("files", nargs="*", metavar="FILE", help=_FILE_HELP)
    validate.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    validate.add_argument(
        "--today",
        type=date_arg,
        metavar="DATE",
        help="date to check `expires` against (default: --now's date)",
    )
    validate.add_argument(
        "--now",
        type=instant,
        metavar="TIME",
        help="check ramps (their current step) as at TIME (ISO 8601, UTC)",
    )
    add_usage_arguments(validate, "--stale-days")

    ev = command("eval", run_eval, "evaluate one flag for a context", context)
    ev.add_argument("file", nargs="?", metavar="FILE", help=_FILE_HELP)
    ev.add_argument("key", metavar="KEY")
    ev.add_argument("--explain", action="store_true", help="show every rule and condition tried")

    sim = command("simulate", run_simulate, "evaluate a flag for a synthetic population", context)
    sim.add_argument("file", nargs="?", metavar="FILE", help=_FILE_HELP)
    sim.add_argument("key", metavar="KEY")
    sim.add_argument("--users", type=positive, default=10_000, metavar="N", help="population (default 10000)")
    sim.add_argument(
        "--attr",
        action="append",
        type=variation,
        metavar="ATTR=V1,V2",
        help="spread users evenly over these values of an attribute; repeatable (combinations)",
    )
    sim.add_argument("--seed", type=int, default=0, help="changes the generated user ids (default 0)")

    scan = command("scan", run_scan, "find flag keys used in code; report typos, stale and expired flags")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    scan.add_argument(
        "--flags", action="append", metavar="FILE", help="flag file (repeatable; default as for validate)"
    )
    scan.add_argument(
        "--key-call",
        action="append",
        metavar="NAME",
        help="a project's wrapper whose first argument is a flag key, e.g. require_flag (repeatable; "
        "also key_calls in [tool.flagkit])",
    )
    scan.add_argument("--strict", action="store_true", help="exit 1 on unused flags too")
    scan.add_argument("--today", type=date_arg, metavar="DATE", help="date to check `expires` against")
    add_usage_arguments(scan, "--unused-days")

    schema = command("schema", run_schema, "print the JSON Schema of the flag file format")
    schema.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    pub = command("publish", run_publish, "validate a flag file and publish it to Redis (RedisProvider)")
    pub.add_argument("file", nargs="?", metavar="FILE", help=_FILE_HELP)
    pub.add_argument("--redis", metavar="URL", help="redis:// or rediss:// URL (default: $FLAGKIT_REDIS_URL)")
    pub.add_argument("--key", required=True, metavar="KEY", help="the key RedisProvider reads")
    pub.add_argument("--channel", metavar="CHANNEL", help="pub/sub channel (default KEY:changed)")
    pub.add_argument("--version-key", metavar="KEY", help="version label key (default KEY:version)")
    pub.add_argument(
        "--allow-older", action="store_true", help="publish even if its top-level version is older"
    )

    _add_edit_commands(command)

    diff = command(
        "diff", run_diff, "what changes between two versions of a flag file, for a population", context
    )
    diff.add_argument("old", metavar="OLD", help="the old version (- for stdin, e.g. from git show)")
    diff.add_argument("new", metavar="NEW", help="the new version (- for stdin)")
    diff.add_argument(
        "--users", type=positive, default=10_000, metavar="N", help="population (default 10000)"
    )
    diff.add_argument(
        "--attr", action="append", type=variation, metavar="ATTR=V1,V2", help="as for simulate; repeatable"
    )
    diff.add_argument("--seed", type=int, default=0, help="changes the generated user ids (default 0)")

    demo = command("demo", run_demo, "evaluate every flag of a file for 20 sample users")
    demo.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="default: $FLAGKIT_FILE, else `file` in [tool.flagkit] of pyproject.toml, else the example "
        "flags shipped with flagkit",
    )
    demo.add_argument("--now", type=instant, metavar="TIME", help=_NOW_HELP)
    return parser


def _add_edit_commands(command: Callable[..., Any]) -> None:
    """``set``, ``kill``, ``revive`` and ``rollout``: edit one flag in place (see edit.py)."""
    editing = _Parser(add_help=False)
    editing.add_argument("file", nargs="?", metavar="FILE", help=_FILE_HELP)
    editing.add_argument("key", metavar="KEY")
    editing.add_argument("--dry-run", action="store_true", help="print the change as a diff; write nothing")
    cmd = command(
        "set", run_set, "set a static flag's value, or a full flag's default variant, in place", editing
    )
    cmd.add_argument("value", metavar="VALUE", help="the new value (static flag) or variant name (full flag)")
    cmd.add_argument("--force", action="store_true", help="allow changing a static flag's type")
    cmd = command(
        "kill",
        run_kill,
        "switch a flag off for everyone (enabled: false), in place; says what they get",
        editing,
    )
    cmd.add_argument(
        "--serve",
        metavar="VARIANT",
        help="what everyone gets while killed (written as off_variant; default: the off_variant, else "
        "the false variant, else the default, refused unless obviously off)",
    )
    cmd.add_argument(
        "--force", action="store_true", help="kill even when the flag's default is not an obvious off"
    )
    command("revive", run_revive, "undo kill (enabled: true), in place", editing)
    cmd = command("rollout", run_rollout, "set the percentage of a rule's two-variant split", editing)
    cmd.add_argument("percent", type=percent_arg, metavar="PERCENT", help="0-100, up to 3 decimals")
    cmd.add_argument("--rule", metavar="NAME", help="the rule (name, rules[i] or index) if several split")
    cmd.add_argument(
        "--variant", metavar="NAME", help="the variant that gets PERCENT (default: the non-default)"
    )


def _set_clock(args: argparse.Namespace) -> None:
    """``--now`` (or ``-c now=TIME``: ``now`` is the clock, never a context attribute) fixes the
    clock of ``now`` conditions for this process, before the flag file is compiled."""
    context = getattr(args, "context", None) or []
    given = [value for name, value in context if name == "now"]
    if given:
        if getattr(args, "now", None) is not None:
            raise Exit(USAGE, "give the time once: --now TIME or -c now=TIME")
        try:
            args.now = instant(str(given[-1]))
        except argparse.ArgumentTypeError as exc:
            raise Exit(USAGE, f"-c now: {exc}") from None
        args.context = [(name, value) for name, value in context if name != "now"]
    at = getattr(args, "now", None)
    if at is not None:
        flagset.now = lambda: at  # `now` conditions (of files compiled without a clock)
        _common.FIXED_NOW = at  # ramps: files are compiled with this clock (_common.clock())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(arguments)
    except _UsageError as exc:
        print(exc.text, file=sys.stderr)
        if "--json" in arguments:  # a script reads stdout only
            print(dumps({"error": exc.message, "exit_code": USAGE}))
        raise
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # ✓/✗/→ on a terminal that cannot show them
            stream.reconfigure(errors="replace")
    # Skipping cyclic GC while a large document is built and compiled halves the load time of
    # big files (nothing here creates garbage cycles that matter). Called in process (the
    # Django command, tests), the caller's GC and clocks are restored on the way out.
    gc_was_enabled, clock_was, fixed_was = gc.isenabled(), flagset.now, _common.FIXED_NOW
    gc.disable()
    try:
        _set_clock(args)
        check_usage_arguments(args)
        _common.resolve_flag_files(args)
        code: int = args.handler(args)
    except Exit as exc:
        if exc.message:
            print(f"flagkit: {exc.message}" if exc.code == USAGE else exc.message, file=sys.stderr)
            if getattr(args, "json", False):  # a script reads stdout only (commands that print
                # their own JSON for an error raise Exit without a message)
                print(dumps({"error": exc.message, "exit_code": exc.code}))
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `flagkit schema | head`: stop quietly, like other CLI tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return OK
    finally:
        flagset.now, _common.FIXED_NOW = clock_was, fixed_was
        if gc_was_enabled:
            gc.enable()
    return code
