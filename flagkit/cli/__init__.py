"""The ``flagkit`` command line: validate, eval, simulate, scan, schema, publish and demo.

One module per command (``validate``, ``evaluate``, ``simulate``, ``scan``, ``schema``,
``publish``, ``demo``), each with a ``run_*`` handler; ``_common`` holds what they share, and ``check``,
``lint`` and ``explain`` the analyses behind them. ``import flagkit`` never imports this package.

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
from typing import Any

from .. import __version__
from ._common import OK, USAGE, Exit, assignment, date_arg, parse_value, positive, variation
from .demo import run_demo
from .evaluate import run_eval
from .publish import run_publish
from .scan import run_scan
from .schema import run_schema
from .simulate import run_simulate
from .validate import run_validate

__all__ = ["build_parser", "main", "parse_value"]

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
        "-c", "--context", action="append", type=assignment, metavar="ATTR=VALUE", help=_CONTEXT_HELP
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

    validate = command("validate", run_validate, "check flag files: errors with file:line, and warnings")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    validate.add_argument("--today", type=date_arg, metavar="DATE", help="date to check `expires` against")

    ev = command("eval", run_eval, "evaluate one flag for a context", context)
    ev.add_argument("file", metavar="FILE")
    ev.add_argument("key", metavar="KEY")
    ev.add_argument("--explain", action="store_true", help="show every rule and condition tried")

    sim = command("simulate", run_simulate, "evaluate a flag for a synthetic population", context)
    sim.add_argument("file", metavar="FILE")
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
        "--flags", action="append", required=True, metavar="FILE", help="flag file (repeatable)"
    )
    scan.add_argument("--strict", action="store_true", help="exit 1 on unused flags too")
    scan.add_argument("--today", type=date_arg, metavar="DATE", help="date to check `expires` against")

    schema = command("schema", run_schema, "print the JSON Schema of the flag file format")
    schema.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    pub = command("publish", run_publish, "validate a flag file and publish it to Redis (RedisProvider)")
    pub.add_argument("file", metavar="FILE")
    pub.add_argument("--redis", metavar="URL", help="redis:// or rediss:// URL (default: $FLAGKIT_REDIS_URL)")
    pub.add_argument("--key", required=True, metavar="KEY", help="the key RedisProvider reads")
    pub.add_argument("--channel", metavar="CHANNEL", help="pub/sub channel (default KEY:changed)")
    pub.add_argument("--version-key", metavar="KEY", help="version label key (default KEY:version)")
    pub.add_argument(
        "--allow-older", action="store_true", help="publish even if its top-level version is older"
    )

    demo = command("demo", run_demo, "evaluate every flag of a file for 20 sample users")
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
    except Exit as exc:
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
