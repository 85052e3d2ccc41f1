"""Rollback protection: a document with a lower top-level ``version`` than the one served is
refused (opt-in by presence), unless ``allow_rollback=True``. Real files, real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flagkit import ConfigError, FileProvider, Flags, FlagSet, HttpProvider
from tests.helpers.flag_server import FlagServer
from tests.helpers.saves import wait_until, write_atomic_rename


def doc(color: str, version: int | None) -> str:
    head = f"version: {version}\n" if version is not None else ""
    return f"{head}features:\n  color: {color}\n"


def only(flags: Flags) -> Any:
    (status,) = flags.status().values()
    return status


def color(flags: Flags) -> str:
    return flags.get_value("color", "")


# --- the schema --------------------------------------------------------------------------


def test_version_is_exposed_on_the_flag_set_and_in_status() -> None:
    assert FlagSet.from_bytes(doc("red", 7), source="f.yaml").document_version == 7
    assert FlagSet.from_bytes(doc("red", None), source="f.yaml").document_version is None
    assert FlagSet.from_dict({"version": 0, "features": {}}).document_version == 0
    with Flags.from_dict({"version": 3, "features": {"a": True}}) as flags:
        assert only(flags).document_version == 3


@pytest.mark.parametrize("bad", ["-1", "true", '"3"', "1.5", "[1]"])
def test_version_must_be_a_non_negative_integer(bad: str) -> None:
    with pytest.raises(ConfigError, match="version") as info:
        FlagSet.from_bytes(f"version: {bad}\nfeatures: {{}}\n", source="f.yaml")
    assert info.value.issues[0].line == 1


def test_json_schema_describes_version() -> None:
    from flagkit.document.schema import json_schema

    schema = json.dumps(json_schema())
    assert "rollback" in schema


# --- FileProvider ------------------------------------------------------------------------


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    path = tmp_path / "features.yaml"
    path.write_text(doc("red", 5))
    return path


@pytest.mark.slow
def test_an_older_file_is_refused_and_the_served_flags_stay(flag_file: Path, no_thread_leaks: None) -> None:
    with Flags(FileProvider(flag_file, poll_interval=0.2)) as flags:
        assert only(flags).document_version == 5
        write_atomic_rename(flag_file, doc("old", 3))  # a restored backup
        wait_until(lambda: only(flags).state == "stale")
        status = only(flags)
        assert "refused version 3" in status.last_error
        assert "version 5" in status.last_error
        assert str(flag_file) in status.last_error
        assert color(flags) == "red"
        assert status.document_version == 5
        write_atomic_rename(flag_file, doc("same", 5))  # the same version: accepted
        wait_until(lambda: color(flags) == "same")
        write_atomic_rename(flag_file, doc("newer", 6))
        wait_until(lambda: color(flags) == "newer")
        assert only(flags).state == "ready"
        write_atomic_rename(flag_file, doc("unversioned", None))  # opt-in by presence
        wait_until(lambda: color(flags) == "unversioned")


@pytest.mark.slow
def test_allow_rollback_accepts_an_older_file(flag_file: Path, no_thread_leaks: None) -> None:
    with Flags(FileProvider(flag_file, poll_interval=0.2, allow_rollback=True)) as flags:
        write_atomic_rename(flag_file, doc("old", 3))
        wait_until(lambda: color(flags) == "old")
        assert only(flags).state == "ready"
        assert only(flags).document_version == 3


# --- HttpProvider ------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FlagServer]:
    with FlagServer(doc("red", 5)) as srv:
        yield srv


def fast(url: str, **options: Any) -> HttpProvider:
    return HttpProvider(url, interval=0.05, backoff=(0.05, 0.2), **options)


@pytest.mark.slow
def test_a_stale_edge_serving_an_older_document_is_refused(server: FlagServer, no_thread_leaks: None) -> None:
    with Flags(fast(server.url())) as flags:
        assert flags.wait_ready(5)
        server.set_body(doc("old", 4))
        wait_until(lambda: only(flags).state == "stale")
        assert "refused version 4" in only(flags).last_error
        assert "version 5" in only(flags).last_error
        assert color(flags) == "red"
        server.set_body(doc("newer", 9))
        wait_until(lambda: color(flags) == "newer")
        assert only(flags).state == "ready"


@pytest.mark.slow
def test_an_older_document_than_the_cache_is_refused_at_start(
    server: FlagServer, tmp_path: Path, no_thread_leaks: None
) -> None:
    cache = tmp_path / "cache.json"
    with Flags(fast(server.url(), cache_path=cache)) as flags:
        assert flags.wait_ready(5)
        wait_until(cache.exists)
    server.set_body(doc("old", 2))  # the app restarts behind a stale edge
    with Flags(fast(server.url(), cache_path=cache)) as flags:
        assert flags.wait_ready(5)
        wait_until(lambda: only(flags).state == "stale")
        assert color(flags) == "red"  # the cached version 5
        assert "refused version 2" in only(flags).last_error


@pytest.mark.slow
def test_http_allow_rollback(server: FlagServer, no_thread_leaks: None) -> None:
    with Flags(fast(server.url(), allow_rollback=True)) as flags:
        assert flags.wait_ready(5)
        server.set_body(doc("old", 4))
        wait_until(lambda: color(flags) == "old")


# --- RedisProvider -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("allow", [False, True])
def test_redis_refuses_an_older_document_written_back(
    redis_server: Any, allow: bool, no_thread_leaks: None
) -> None:
    import redis

    from flagkit import RedisProvider
    from flagkit.providers._redis_wire import publish

    key = "flags:rollback"
    publish(redis_server.url, key, doc("red", 5).encode())
    source = RedisProvider(
        redis_server.url, key=key, poll_interval=0.1, backoff=(0.05, 0.2), allow_rollback=allow
    )
    with Flags(source) as flags:
        assert flags.wait_ready(10)
        admin = redis.Redis.from_url(redis_server.url)
        try:
            admin.set(key, doc("old", 3))  # a restored backup, written without `flagkit publish`
            admin.delete(f"{key}:version")
        finally:
            admin.close()
        if allow:
            wait_until(lambda: color(flags) == "old", timeout=10)
        else:
            wait_until(lambda: only(flags).state == "stale", timeout=10)
            assert "refused version 3" in only(flags).last_error
            assert "version 5" in only(flags).last_error
            assert color(flags) == "red"
