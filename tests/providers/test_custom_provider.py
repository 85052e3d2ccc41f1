"""The custom provider example in docs/providers.md works as documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from flagkit import Flags
from tests.helpers.saves import wait_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"


def load_example() -> Any:
    text = DOC.read_text()
    section = text.split("## Writing your own provider", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "no code block under 'Writing your own provider'"
    code = match.group(1)
    assert len(code.strip().splitlines()) <= 40  # "a few lines"
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # our own documentation, not user input
    return namespace["PollingProvider"]


@pytest.mark.slow
def test_documented_custom_provider(no_thread_leaks: None) -> None:
    polling_provider = load_example()
    document = {"value": b"features:\n  color: red\n"}
    errors: list[BaseException] = []
    with Flags(polling_provider(lambda: document["value"], interval=0.02)) as flags:
        flags.on_error(lambda name, exc: errors.append(exc))
        assert flags.wait_ready(5)
        assert flags.get_value("color", "") == "red"
        document["value"] = b"features: [broken"
        wait_until(lambda: errors)
        assert flags.get_value("color", "") == "red"  # last good kept
        assert flags.status()["polling"].state == "stale"
        document["value"] = b"features:\n  color: blue\n"
        wait_until(lambda: flags.get_value("color", "") == "blue")
