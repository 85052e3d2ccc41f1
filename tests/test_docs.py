"""Docs that match the code: every ```python block of README.md and docs/*.md runs (one
subprocess per page, see tests/docs_runner.py), and the few that cannot run say why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs_runner import blocks

pytestmark = pytest.mark.slow  # a subprocess per page

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_python_snippet_of_the_page_runs(page: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests" / "docs_runner.py"), str(page), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    python = [b for b in blocks(page.read_text(encoding="utf-8")) if b.lang == "python"]
    skipped = sum(b.skip is not None for b in python)
    files = sum(b.file is not None for b in python)
    expected = f"ran {len(python) - skipped - files} skipped {skipped} files {files}"
    assert proc.stdout.splitlines()[-1] == expected


def test_cli_md_shows_what_the_cli_prints() -> None:
    """docs/cli.md's output blocks are generated (``make docs``); this fails when they are stale."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.cli_docs", "--check"],
        capture_output=True, text=True, cwd=REPO, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr


def test_the_snippets_that_do_not_run_are_few_and_say_why() -> None:
    skipped = [
        (page.name, block.line, block.skip)
        for page in PAGES
        for block in blocks(page.read_text(encoding="utf-8"))
        if block.skip is not None
    ]
    assert all(reason and len(reason) > 20 for _, _, reason in skipped), skipped
    assert len(skipped) <= 3, skipped
    total = sum(b.lang == "python" for page in PAGES for b in blocks(page.read_text(encoding="utf-8")))
    assert total >= 30  # the docs' examples did not silently become another language
