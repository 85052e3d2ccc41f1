"""Running ``flagkit``: the real console script in a subprocess, or ``flagkit.cli.main`` in process.

Under tests/cli, :func:`run` calls ``flagkit.cli.main`` in process (its output read with pytest's
``capsys``; see tests/cli/conftest.py): most tests prove nothing more with a subprocess. Keep
:func:`run_process` for what only a real process shows (the installed entry point, ``python -m
flagkit``, PATH and the terminal's encoding, stdin, signals, processes racing each other).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flagkit.cli import main

REPO = Path(__file__).resolve().parent.parent.parent
SCRIPT = Path(sys.executable).with_name("flagkit")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "flagkit"]


def run_process(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real console script in a subprocess (cwd: the repository, unless given)."""
    proc = subprocess.run(
        [*COMMAND, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
        encoding="utf-8",
        errors="replace",
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def run_json(*args: str | Path, cwd: Path | None = None, code: int = 0) -> Any:
    proc = run(*args, "--json", cwd=cwd)
    assert proc.returncode == code, proc.stderr
    return json.loads(proc.stdout)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@dataclass(frozen=True)
class Result:
    """What :func:`run` saw in process: the exit code and the two streams (``CompletedProcess``'s shape)."""

    returncode: int
    stdout: str
    stderr: str


CURRENT: tuple[pytest.CaptureFixture[str], pytest.MonkeyPatch] | None = None
"""The running test's ``capsys`` and ``monkeypatch`` (set by tests/cli/conftest.py)."""


def run(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Result | subprocess.CompletedProcess[str]:
    """``flagkit ARGS``: ``flagkit.cli.main`` in this process under tests/cli (output read with
    ``capsys``, ``cwd`` and ``env`` applied and restored), the console script elsewhere."""
    if CURRENT is None:
        return run_process(*args, cwd=cwd, env=env)
    capsys, monkeypatch = CURRENT
    capsys.readouterr()  # what came before is not this command's
    with monkeypatch.context() as patch:
        patch.chdir(cwd or REPO)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's --help/--version and argument errors
            code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return Result(code, out.out, out.err)
