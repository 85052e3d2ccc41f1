"""CLI tests call ``flagkit.cli.main`` in process (see tests/cli/runner.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli import runner


@pytest.fixture(autouse=True)
def _in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    runner.CURRENT = (capsys, monkeypatch)
    try:
        yield
    finally:
        runner.CURRENT = None
