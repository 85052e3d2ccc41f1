"""Shared fixtures. Helpers that several test modules use live in tests/helpers/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.redis_server import RedisServer, find_redis_server

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def example_file() -> Path:
    """The bundled examples/features.yaml."""
    return EXAMPLES / "features.yaml"


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on 127.0.0.1 (free port, temp dir, no persistence), stopped after."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("redis-server is not installed (`.ci/run` installs it with apt-get)")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
