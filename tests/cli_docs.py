"""Regenerate the command output shown in docs/cli.md by running the real ``flagkit``.

``python -m tests.cli_docs`` (``make docs``) rewrites docs/cli.md in place; ``--check`` exits 1
with a diff when the page is stale (tests/test_docs.py runs the check in ``make test``).

An output block is a plain fence whose first line is ``$ COMMAND``. Every ``$`` line is run
with bash in one scratch directory, with ``flagkit`` being this checkout's ``python -m flagkit``;
stdout and stderr replace the lines under it. The scratch directory holds a copy of
examples/, the same flag file at ``features.yaml`` and ``config/features.yaml``, and the files
the page defines (``<!-- doc-test: file PATH -->`` above a block, see tests/docs_runner.py).

The commands run top-down, in page order, as a reader would type them: a command that edits a
file (``kill``, ``set``, ``rollout``...) changes what the commands below it see. The outputs
are then spliced into the page from the bottom up, so that earlier line numbers stay valid.

``<!-- doc-test: setup`` … ``-->`` right above an output block is a hidden *shell* script run
(``set -e``, in the scratch directory, before the block's first command) for what the reader
is assumed to have already: usage files exported by an application, a git repository. It
prints nothing on the page; if it fails, the generator stops with its output. (Above a
```python block the same marker holds Python, see tests/docs_runner.py.)

The clock is fixed by the commands themselves: every date-dependent command on the page passes
``--today`` (and ``--now`` where it matters), so the page does not change with the date. The
environment is fixed too: ``TZ=UTC``, no user or system git configuration.
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


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "FLAGKIT_PYTHON": sys.executable,
        # The console script on PATH, as after `pip install`: the demo's closing hint then says
        # plain `flagkit` (it names the script's path when `flagkit` is not on PATH).
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONIOENCODING": "utf-8",
        "COLUMNS": "100",
        "PYTHONPATH": str(REPO),
        "TZ": "UTC",
        "GIT_CONFIG_GLOBAL": os.devnull,  # the page must not depend on the user's git settings
        "GIT_CONFIG_NOSYSTEM": "1",
    }


def _bash(script: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f'flagkit() {{ "$FLAGKIT_PYTHON" -m flagkit "$@"; }}\n{script}\n'],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
        env=_env(),
    )


def _run(command: str, workdir: Path) -> list[str]:
    """The output of one ``$`` line (stdout and stderr, as a terminal shows them)."""
    return [line.rstrip() for line in _bash(command, workdir).stdout.splitlines()]


def _setup(script: str, workdir: Path, line: int) -> None:
    """Run a hidden ``doc-test: setup`` script; it must succeed."""
    proc = _bash(f"set -e\n{script}", workdir)
    if proc.returncode != 0:
        raise SystemExit(f"docs/cli.md:{line}: the setup above this block failed:\n{proc.stdout}")


def render(text: str) -> str:
    """``text`` (the page) with the output under every ``$`` line regenerated."""
    lines = text.splitlines()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        shutil.copytree(REPO / "examples", workdir / "examples", ignore=shutil.ignore_patterns("__pycache__"))
        for copy in ("features.yaml", "config/features.yaml"):
            (workdir / copy).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / "examples" / "features.yaml", workdir / copy)
        found = blocks(text)
        for block in found:
            if block.file is not None:
                target = workdir / block.file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.code, encoding="utf-8")
        # Run in page order: the commands build on each other as they do for a reader.
        generated: list[tuple[int, int, list[str]]] = []  # (first body line, body length, new body)
        for block in found:
            body = block.code.splitlines()
            if block.lang or not body or not body[0].startswith("$ "):
                continue
            for script in block.setup:
                _setup(script, workdir, block.line)
            new: list[str] = []
            for line in body:
                if line.startswith("$ "):
                    new.append(line)
                    new.extend(_run(line[2:], workdir))
            # The fence is at index block.line - 1, so its first body line is at block.line.
            generated.append((block.line, len(body), new))
        # Splice from the bottom so earlier line numbers stay valid.
        for start, length, new in reversed(generated):
            lines[start : start + length] = new
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
