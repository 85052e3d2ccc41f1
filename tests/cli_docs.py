"""Regenerate the command output shown in docs/cli.md by running the real ``flagkit``.

``python -m tests.cli_docs`` (``make docs``) rewrites docs/cli.md in place; ``--check`` exits 1
with a diff when the page is stale (tests/test_docs.py runs the check in ``make test``).

An output block is a plain fence whose first line is ``$ COMMAND``. Every ``$`` line is run
with bash in a scratch directory holding a copy of examples/ and the files the page defines
(``<!-- doc-test: file PATH -->`` above a block, see tests/docs_runner.py), with ``flagkit``
being this checkout's ``python -m flagkit``; stdout and stderr replace the lines under it.
The clock is fixed by the commands themselves: every date-dependent command on the page passes
``--today`` (and ``--now`` where it matters), so the page does not change with the date.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.docs_runner import blocks

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "cli.md"


def _run(command: str, workdir: Path) -> list[str]:
    script = f'flagkit() {{ "$FLAGKIT_PYTHON" -m flagkit "$@"; }}\n{command}\n'
    env = {
        **os.environ,
        "FLAGKIT_PYTHON": sys.executable,
        "PYTHONIOENCODING": "utf-8",
        "COLUMNS": "100",
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
        env=env,
    )
    return [line.rstrip() for line in proc.stdout.splitlines()]


def render(text: str) -> str:
    """``text`` (the page) with the output under every ``$`` line regenerated."""
    lines = text.splitlines()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        shutil.copytree(REPO / "examples", workdir / "examples", ignore=shutil.ignore_patterns("__pycache__"))
        found = blocks(text)
        for block in found:
            if block.file is not None:
                target = workdir / block.file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.code, encoding="utf-8")
        # Replace from the bottom so earlier line numbers stay valid.
        for block in reversed(found):
            body = block.code.splitlines()
            if block.lang or not body or not body[0].startswith("$ "):
                continue
            new: list[str] = []
            for line in body:
                if line.startswith("$ "):
                    new.append(line)
                    new.extend(_run(line[2:], workdir))
            start = block.line  # index of the first body line (the fence is at block.line - 1)
            lines[start : start + len(body)] = new
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    current = PAGE.read_text(encoding="utf-8")
    fresh = render(current)
    if "--check" in argv:
        if fresh != current:
            diff = difflib.unified_diff(
                current.splitlines(), fresh.splitlines(), "docs/cli.md", "generated", lineterm=""
            )
            print("\n".join(diff))
            print("docs/cli.md is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
