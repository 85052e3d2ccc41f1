"""Shared fixtures. Helpers that several test modules use live in tests/helpers/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.helpers.redis_server import RedisServer, require_redis_server

# No property test may depend on the machine's speed: no per-example deadline, and no
# "data generation too slow" health check (both are wall-clock measures that fail on a loaded CI
# machine). A test that wants a time bound measures work done, not seconds.
# `make test` is also deterministic: the same examples on every run and machine (derandomize),
# so a newcomer's first run never meets a case nobody has seen; the fuzzers' exploration runs on
# demand with `FLAGKIT_HYPOTHESIS=explore make pytest` (fresh random examples, more of them).
settings.register_profile(
    "flagkit", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True, database=None
)
settings.register_profile(
    "explore", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=2_000
)
settings.load_profile("explore" if os.environ.get("FLAGKIT_HYPOTHESIS") == "explore" else "flagkit")


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
