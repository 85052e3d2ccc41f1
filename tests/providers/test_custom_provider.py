"""The custom provider example in docs/providers.md works as documented."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from flagkit import Flags
from tests.helpers.saves import wait_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"


def load_example(directory: Path) -> Any:
    """Import the code block of the docs' custom provider section as a module."""
    text = DOC.read_text()
    section = text.split("## Writing your own provider", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "no code block under 'Writing your own provider'"
    code = match.group(1)
    assert len(code.strip().splitlines()) <= 40  # "a few lines"
    module_path = directory / "polling_provider_example.py"
    module_path.write_text(code)
    spec = importlib.util.spec_from_file_location("polling_provider_example", module_path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PollingProvider


@pytest.mark.slow
def test_documented_custom_provider(tmp_path: Path, no_thread_leaks: None) -> None:
    polling_provider = load_example(tmp_path)
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
