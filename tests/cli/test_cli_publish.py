"""``flagkit publish``: the real console script against a real redis-server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from flagkit import Flags, RedisProvider
from flagkit.providers._redis_wire import version_label
from tests.cli.runner import run
from tests.helpers.redis_server import RedisServer, require_redis_server

pytestmark = pytest.mark.slow

KEY = "flags:prod"


@pytest.fixture
def admin(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


def flag_file(tmp_path: Path, color: str, *, version: int | None = None, name: str = "flags.yaml") -> Path:
    head = f"version: {version}\n" if version is not None else ""
    path = tmp_path / name
    path.write_text(f"{head}features:\n  color: {color}\n")
    return path


def test_publish_writes_key_label_and_message_together(
    redis_server: RedisServer, admin: redis.Redis, tmp_path: Path
) -> None:
    path = flag_file(tmp_path, "red", version=3)
    pubsub = admin.pubsub()
    pubsub.subscribe(f"{KEY}:changed")
    assert (pubsub.get_message(timeout=5) or {}).get("type") == "subscribe"
    proc = run("publish", path, "--redis", redis_server.url, "--key", KEY)
    assert proc.returncode == 0, proc.stderr
    label = version_label(path.read_bytes())
    assert f"version 3, label {label}" in proc.stdout
    assert "(1 flag, 1 subscriber notified)" in proc.stdout  # counts in English (issue 18)
    assert admin.get(KEY) == path.read_bytes()
    assert admin.get(f"{KEY}:version") == label.encode()
    message = pubsub.get_message(timeout=5)
    assert message is not None
    assert message["data"] == label.encode()
    pubsub.close()
    with Flags(RedisProvider(redis_server.url, key=KEY)) as flags:  # what a process then serves
        assert flags.wait_ready(10)
        assert flags.get_value("color", "") == "red"
        assert flags.status()[f"redis:{redis_server.url}/{KEY}"].version == label


def test_publish_refuses_an_invalid_file_and_writes_nothing(
    redis_server: RedisServer, admin: redis.Redis, tmp_path: Path
) -> None:
    good = flag_file(tmp_path, "red")
    assert run("publish", good, "--redis", redis_server.url, "--key", KEY).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("features:\n  color:\n    variants: {on: true}\n    default: missing\n")
    proc = run("publish", bad, "--redis", redis_server.url, "--key", KEY)
    assert proc.returncode == 1
    assert "bad.yaml:" in proc.stderr
    assert admin.get(KEY) == good.read_bytes()


def test_publish_refuses_an_older_version_unless_told(
    redis_server: RedisServer, admin: redis.Redis, tmp_path: Path
) -> None:
    newer = flag_file(tmp_path, "blue", version=5, name="v5.yaml")
    older = flag_file(tmp_path, "red", version=4, name="v4.yaml")
    assert run("publish", newer, "--redis", redis_server.url, "--key", KEY).returncode == 0
    proc = run("publish", older, "--redis", redis_server.url, "--key", KEY)
    assert proc.returncode == 1
    assert "older than the published version 5" in proc.stderr
    assert admin.get(KEY) == newer.read_bytes()
    out = run("publish", older, "--redis", redis_server.url, "--key", KEY, "--allow-older", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["published"] is True
    assert report["version"] == 4
    assert admin.get(KEY) == older.read_bytes()


def test_publish_never_shows_the_password(tmp_path: Path) -> None:
    binary = require_redis_server()
    server = RedisServer(binary, tmp_path / "redis", password="pa55-word-secret")
    (tmp_path / "redis").mkdir()
    server.start()
    try:
        path = flag_file(tmp_path, "red")
        ok = run("publish", path, "--key", KEY, env={"FLAGKIT_REDIS_URL": server.url})
        assert ok.returncode == 0, ok.stderr
        assert "pa55-word-secret" not in ok.stdout
        wrong = server.url.replace("pa55-word-secret", "not-the-pa55")
        proc = run("publish", path, "--redis", wrong, "--key", KEY)
        assert proc.returncode == 2
        assert "cannot publish to redis://:***@127.0.0.1" in proc.stderr
        assert "not-the-pa55" not in proc.stderr + proc.stdout
    finally:
        server.stop()
    assert run("publish", path, "--key", KEY).returncode == 2  # no URL at all: a usage error
