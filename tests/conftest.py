"""Shared fixtures. Helpers that several test modules use live in tests/helpers/."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def example_file() -> Path:
    """The bundled examples/features.yaml."""
    return EXAMPLES / "features.yaml"
