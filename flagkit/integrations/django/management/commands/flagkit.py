"""``python manage.py flagkit COMMAND ...``: the flagkit CLI on the project's flag file.

The file named by ``settings.FLAGKIT["FILE"]`` (resolved against ``BASE_DIR``) is put where
the command expects its file, so ``manage.py flagkit kill new_checkout`` edits the project's
flags::

    python manage.py flagkit validate
    python manage.py flagkit eval new_checkout -c user_id=42 --explain
    python manage.py flagkit kill new_checkout --dry-run
    python manage.py flagkit rollout new_checkout 25
    python manage.py flagkit diff old-features.yaml        # OLD -> the project's file
    python manage.py flagkit scan shop/                    # --flags is the project's file

The exit code is the CLI's (0 ok, 1 problems found, 2 usage error).
"""

from __future__ import annotations

import argparse
import gc
from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...conf import load_settings

__all__ = ["Command", "cli_argv"]

FILE_FIRST = frozenset({"validate", "eval", "simulate", "publish", "set", "kill", "revive", "rollout"})
"""Commands whose first positional argument is the flag file."""


def cli_argv(args: Sequence[str], file: str) -> list[str]:
    """The ``flagkit`` command line for ``manage.py flagkit ARGS`` on ``file``."""
    if not args or args[0].startswith("-"):
        return list(args)  # --help, --version: as given
    command, rest = args[0], list(args[1:])
    if command in FILE_FIRST:
        return [command, file, *rest]
    if command == "diff":
        return [command, *rest, file]  # diff OLD -> the project's file is NEW
    if command == "scan":
        return [command, "--flags", file, *rest]
    return [command, *rest]


class Command(BaseCommand):
    help = "Run the flagkit CLI (validate, eval, kill, revive, set, rollout, diff …) on FLAGKIT['FILE']."
    requires_system_checks: Any = ()  # `validate` must run on a file the checks would refuse

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("cli_args", nargs=argparse.REMAINDER, metavar="COMMAND ...")

    def handle(self, *args: Any, **options: Any) -> None:
        from flagkit.cli import main

        file = load_settings().file
        if file is None:
            raise CommandError("settings.FLAGKIT has no 'FILE': name the project's flag file there.")
        gc_was_enabled = gc.isenabled()
        try:
            code = main(cli_argv(list(options["cli_args"]), file))
        finally:
            if gc_was_enabled:  # the CLI turns it off for its short-lived process
                gc.enable()
        if code:
            raise CommandError(f"flagkit exited with {code}", returncode=code)
