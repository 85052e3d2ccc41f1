"""Shared fixtures. Helpers that several test modules use live in tests/helpers/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.helpers.redis_server import RedisServer, require_redis_server

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


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on 127.0.0.1 (free port, temp dir, no persistence), stopped after."""
    binary = require_redis_server()
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
