"""The public API's types, checked the way a user's CI checks them: ``mypy --strict`` run in a
subprocess on tests/typing/accepted.py (must pass; its ``assert_type`` lines pin each type) and
on tests/typing/rejected.py (each line marked ``# error: CODE`` must fail with that code, and
nothing else may)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs mypy in a subprocess

REPO = Path(__file__).resolve().parent.parent
TYPING = REPO / "tests" / "typing"
ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")
EXPECTED = re.compile(r"#\s*error:\s*(?P<code>[a-z-]+)")


def mypy(path: Path) -> subprocess.CompletedProcess[str]:
    # Only the user program and its flagkit imports: no config file of ours, so pydantic's
    # plugin (which users need not have) plays no part; a cache beside the repo's keeps it fast.
    return subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--config-file", "", "--python-version", "3.11",
            "--cache-dir", str(REPO / ".mypy_cache" / "typing-tests"), "--no-error-summary",
            "--show-error-codes", "--no-pretty", "--no-color-output", str(path.relative_to(REPO)),
        ],
        capture_output=True, text=True, cwd=REPO, timeout=600, check=False,
    )  # fmt: skip


def test_a_typed_program_passes_mypy_strict() -> None:
    proc = mypy(TYPING / "accepted.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = subprocess.run(
        [sys.executable, str(TYPING / "accepted.py")], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr  # and what it asserts holds at run time
    assert run.stdout.strip() == "ok"


def test_mistakes_are_type_errors_where_expected() -> None:
    source = (TYPING / "rejected.py").read_text(encoding="utf-8").splitlines()
    expected = {
        (number, match["code"]) for number, line in enumerate(source, 1) if (match := EXPECTED.search(line))
    }
    assert len(expected) == 10
    proc = mypy(TYPING / "rejected.py")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    found = {
        (int(match["line"]), match["code"])
        for line in proc.stdout.splitlines()
        if (match := ERROR.match(line))
    }
    assert found == expected, proc.stdout
