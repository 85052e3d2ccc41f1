"""Shared fixtures. Helpers that several test modules use live in tests/helpers/."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# No property test may depend on the machine's speed: no per-example deadline, and no
# "data generation too slow" health check (both are wall-clock measures that fail on a loaded CI
# machine). A test that wants a time bound measures work done, not seconds.
settings.register_profile("flagkit", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("flagkit")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def example_file() -> Path:
    """The bundled examples/features.yaml."""
    return EXAMPLES / "features.yaml"
