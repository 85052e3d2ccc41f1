"""RedisProvider against a real redis-server started by the test (tests/helpers/redis_server.py).

Every test runs its own server on a free port of 127.0.0.1; outages are real (SIGKILL, a
restart, connections killed with CLIENT KILL, a password switched on).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from flagkit import Flags, RedisProvider
from flagkit.providers._redis_wire import publish, version_label
from tests.helpers.redis_server import RedisServer
from tests.helpers.saves import wait_until
from tests.providers.test_fork import Messages, reap, run_in_child

pytestmark = pytest.mark.slow

KEY = "flags:web"
NO_POLL = 3600.0
"""A safety poll that never comes within a test: what arrives was pushed (or read on connect)."""


def doc(color: str, *, version: int | None = None) -> bytes:
    head = f"version: {version}\n" if version is not None else ""
    return f"{head}features:\n  color: {color}\n".encode()


@pytest.fixture
def admin(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


def provider(server: RedisServer, **kwargs: object) -> RedisProvider:
    options: dict[str, object] = {
        "key": KEY,
        "poll_interval": NO_POLL,
        "backoff": (0.05, 0.2),
        "timeout": 2.0,
    }
    options.update(kwargs)
    return RedisProvider(server.url, **options)  # type: ignore[arg-type]


def flagkit_connections(admin: redis.Redis) -> list[dict[str, object]]:
    return [c for c in admin.client_list() if c.get("name") == "flagkit"]


def kill_flagkit_connections(admin: redis.Redis) -> None:
    for conn in flagkit_connections(admin):
        admin.client_kill_filter(_id=str(conn["id"]))


def test_loads_at_start_and_changes_are_pushed(
    redis_server: RedisServer, admin: redis.Redis, no_thread_leaks: None
) -> None:
    publish(redis_server.url, KEY, doc("red"))
    source = provider(redis_server)
    with Flags(source) as flags:
        assert flags.wait_ready(10)
        assert flags.get_value("color", "") == "red"
        status = flags.status()[source.name]
        assert status.state == "ready"
        assert status.version == version_label(doc("red"))
        wait_until(lambda: admin.pubsub_numsub(f"{KEY}:changed")[0][1] == 1)

        changed: list[set[str]] = []
        flags.on_change(changed.append)
        published = publish(redis_server.url, KEY, doc("blue"))
        assert published.receivers == 1
        # No poll within the test: only the pub/sub message can deliver it.
        wait_until(lambda: flags.get_value("color", "") == "blue", timeout=10)
        assert flags.flush_listeners(5)  # listeners run on the dispatcher thread
        assert changed == [{"color"}]
        assert flags.status()[source.name].version == published.label


def test_safety_poll_sees_a_change_whose_message_was_missed(
    redis_server: RedisServer, admin: redis.Redis, no_thread_leaks: None
) -> None:
    publish(redis_server.url, KEY, doc("red"))
    source = provider(redis_server, poll_interval=0.2)
    with Flags(source) as flags:
        assert flags.wait_ready(10)
        # Written like a publisher whose PUBLISH got lost: key and label, no message.
        admin.mset({KEY: doc("green"), f"{KEY}:version": version_label(doc("green"))})
        wait_until(lambda: flags.get_value("color", "") == "green", timeout=10)
        # A plain SET with no label at all is seen too: the poll then compares the hash.
        admin.delete(f"{KEY}:version")
        admin.set(KEY, doc("yellow"))
        wait_until(lambda: flags.get_value("color", "") == "yellow", timeout=10)
        assert flags.status()[source.name].state == "ready"


def test_a_plain_set_that_leaves_the_old_label_is_served(
    redis_server: RedisServer, admin: redis.Redis, no_thread_leaks: None
) -> None:
    """The label names the document it was published with: a plain SET of the key leaves it
    behind, and a poll trusting it would never read the new document (issue 16)."""
    publish(redis_server.url, KEY, doc("red"))
    source = provider(redis_server, poll_interval=0.1, full_read_interval=1.0)
    with Flags(source) as flags:
        assert flags.wait_ready(10)
        admin.set(KEY, doc("blue"))  # KEY:version still holds red's label; no message
        wait_until(lambda: flags.get_value("color", "") == "blue", timeout=15)
        status = flags.status()[source.name]
        assert status.version == version_label(doc("blue"))  # not the stale label
        assert status.state == "ready"
        # The label is not blue's hash, so it is not trusted: the next SET is read at a poll.
        admin.set(KEY, doc("green"))
        wait_until(lambda: flags.get_value("color", "") == "green", timeout=15)


def test_an_unchanged_label_refreshes_fresh_at(
    redis_server: RedisServer, admin: redis.Redis, no_thread_leaks: None
) -> None:
    publish(redis_server.url, KEY, doc("red"))
    source = provider(redis_server, poll_interval=0.1)
    with Flags(source) as flags:
        assert flags.wait_ready(10)
        loaded = flags.status()[source.name]
        assert loaded.fresh_at is not None
        assert loaded.last_success is not None
        first = loaded.fresh_at
        wait_until(lambda: (flags.status()[source.name].fresh_at or 0) > first + 0.3, timeout=10)
        assert flags.status()[source.name].last_success == loaded.last_success  # nothing loaded


def test_keyspace_notifications_count_as_messages(
    redis_server: RedisServer, admin: redis.Redis, no_thread_leaks: None
) -> None:
    admin.config_set("notify-keyspace-events", "K$")
    admin.set(KEY, doc("red"))
    source = provider(redis_server, keyspace_notifications=True)
    with Flags(source) as flags:
        assert flags.wait_ready(10)
        wait_until(lambda: admin.pubsub_numsub(f"__keyspace@0__:{KEY}")[0][1] == 1)
        admin.set(KEY, doc("blue"))  # no label, no message on the channel, no poll
        wait_until(lambda: flags.get_value("color", "") == "blue", timeout=10)


def test_garbage_keeps_the_last_good_flags(
    redis_server: RedisServer, admin: redis.Redis, no_thread_leaks: None
) -> None:
    publish(redis_server.url, KEY, doc("red"))
    source = provider(redis_server)
    with Flags(source) as flags:
        assert flags.wait_ready(10)
        wait_until(lambda: admin.pubsub_numsub(f"{KEY}:changed")[0][1] == 1)
        for garbage in (
            b"features: [unclosed",
            b"\x00\xff binary",
            b"",
            b"features:\n  color: {variants: 3}\n",
        ):
            errors = flags.status()[source.name].error_count
            with admin.pipeline(transaction=True) as pipe:
                pipe.set(KEY, garbage).set(f"{KEY}:version", version_label(garbage))
                pipe.publish(f"{KEY}:changed", version_label(garbage)).execute()
            wait_until(lambda n=errors: flags.status()[source.name].error_count > n, timeout=10)
            status = flags.status()[source.name]
            assert status.state == "stale"
            assert status.version == version_label(doc("red"))
            assert flags.get_value("color", "") == "red"
        # Back to a good document: ready again.
        publish(redis_server.url, KEY, doc("blue"))
        wait_until(lambda: flags.get_value("color", "") == "blue", timeout=10)
        assert flags.status()[source.name].state == "ready"


def test_a_killed_server_changes_nothing_served_and_a_restart_is_picked_up(
    redis_server: RedisServer, no_thread_leaks: None
) -> None:
    publish(redis_server.url, KEY, doc("red"))
    source = provider(redis_server)
    with Flags(source) as flags:
        assert flags.wait_ready(10)
        redis_server.kill()
        wait_until(lambda: flags.status()[source.name].state == "stale", timeout=10)
        assert "127.0.0.1" in (flags.status()[source.name].last_error or "")
        assert flags.get_value("color", "") == "red"  # the outage changes nothing served
        redis_server.start()  # empty: no persistence
        # Reconnected, it finds no key: still the last good flags, still stale.
        wait_until(lambda: "does not exist" in (flags.status()[source.name].last_error or ""), timeout=10)
        assert flags.get_value("color", "") == "red"
        publish(redis_server.url, KEY, doc("blue"))
        wait_until(lambda: flags.get_value("color", "") == "blue", timeout=10)
        assert flags.status()[source.name].state == "ready"


def test_a_change_published_while_disconnected_is_read_on_reconnect(
    redis_server: RedisServer, admin: redis.Redis, no_thread_leaks: None
) -> None:
    publish(redis_server.url, KEY, doc("red"))
    source = provider(redis_server)
    with Flags(source) as flags:
        assert flags.wait_ready(10)
        # Lock flagkit out (a password it does not have) and cut its connections.
        admin.config_set("requirepass", "s3cret-pass")
        admin.execute_command("AUTH", "s3cret-pass")
        kill_flagkit_connections(admin)
        wait_until(lambda: flags.status()[source.name].state == "stale", timeout=10)
        assert "s3cret-pass" not in (flags.status()[source.name].last_error or "")
        # The message of this publish reaches no flagkit subscriber, and there is no poll.
        admin.mset({KEY: doc("blue"), f"{KEY}:version": version_label(doc("blue"))})
        assert admin.publish(f"{KEY}:changed", version_label(doc("blue"))) == 0
        assert flags.get_value("color", "") == "red"
        admin.config_set("requirepass", "")
        wait_until(lambda: flags.get_value("color", "") == "blue", timeout=10)
        assert flags.status()[source.name].state == "ready"


def test_the_password_never_shows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, no_thread_leaks: None
) -> None:
    from tests.helpers.redis_server import require_redis_server

    binary = require_redis_server()
    server = RedisServer(binary, tmp_path, password="hunter2-very-secret")
    server.start()
    try:
        publish(server.url, KEY, doc("red"))
        caplog.set_level(logging.DEBUG, logger="flagkit")
        wrong = RedisProvider(
            server.url.replace("hunter2-very-secret", "wrong%20pass%2Fword"),
            key=KEY,
            backoff=(0.05, 0.1),
            name="wrong",
        )
        right = RedisProvider(server.url, key=KEY, poll_interval=NO_POLL)
        with Flags(right, wrong) as flags:
            wait_until(lambda: flags.status()[wrong.name].error_count >= 2, timeout=10)
            assert flags.get_value("color", "") == "red"  # from `right`
            text = " ".join(
                [repr(right), repr(wrong), right.name, wrong.name, right.url, caplog.text]
                + [json.dumps(s.as_dict()) for s in flags.status().values()]
            )
        for secret in ("hunter2-very-secret", "wrong%20pass%2Fword", "wrong pass/word"):
            assert secret not in text
        assert right.name == f"redis:redis://:***@127.0.0.1:{server.port}/0/{KEY}"
    finally:
        server.stop()


def test_the_disk_cache_serves_a_restart_while_redis_is_down(
    redis_server: RedisServer, tmp_path: Path, no_thread_leaks: None
) -> None:
    cache = tmp_path / "cache" / "flags.json"
    publish(redis_server.url, KEY, doc("red"))
    source = provider(redis_server, cache_path=cache)
    with Flags(source) as flags:
        assert flags.wait_ready(10)
        wait_until(cache.exists)
    assert os.stat(cache).st_mode & 0o777 == 0o600
    redis_server.kill()
    restarted = provider(redis_server, cache_path=cache)
    with Flags(restarted) as flags:
        assert flags.wait_ready(10)
        assert flags.get_value("color", "") == "red"
        assert flags.status()[restarted.name].state == "stale"
    # Another key's cache is never used.
    other = provider(redis_server, key="flags:other", cache_path=cache)
    with Flags(other) as flags:
        wait_until(lambda: flags.status()[other.name].state == "error", timeout=10)
        assert flags.get_value("color", "none") == "none"


def test_serving_the_cache_while_redis_is_down_does_not_move_fresh_at(
    redis_server: RedisServer, tmp_path: Path, no_thread_leaks: None
) -> None:
    """No check of Redis succeeded: fresh_at is the cache's ``saved_at``, not the restart's
    time (issue 16)."""
    cache = tmp_path / "cache" / "flags.json"
    publish(redis_server.url, KEY, doc("red"))
    source = provider(redis_server, cache_path=cache)
    with Flags(source) as flags:
        assert flags.wait_ready(10)
        wait_until(cache.exists)
    redis_server.kill()
    saved_at = json.loads(cache.read_text())["saved_at"]
    started = time.time()
    restarted = provider(redis_server, cache_path=cache)
    with Flags(restarted) as flags:
        assert flags.wait_ready(10)
        wait_until(lambda: flags.status()[restarted.name].error_count >= 2, timeout=15)
        status = flags.status()[restarted.name]
        assert status.state == "stale"
        assert status.fresh_at == saved_at < started
        assert status.last_success is not None
        assert status.last_success >= started


def test_an_oversized_document_is_refused(redis_server: RedisServer, admin: redis.Redis) -> None:
    big = doc("red") + b"# " + b"x" * 2000 + b"\n"
    admin.set(KEY, big)
    source = provider(redis_server, max_bytes=1000)
    with Flags(source) as flags:
        wait_until(lambda: flags.status()[source.name].state == "error", timeout=10)
        assert "over the limit of 1,000 bytes" in (flags.status()[source.name].last_error or "")


def test_restart_after_stop_and_the_constructor_checks(redis_server: RedisServer) -> None:
    publish(redis_server.url, KEY, doc("red"))
    source = provider(redis_server)
    with Flags(source) as flags:
        assert flags.wait_ready(10)
    with Flags(source) as flags:  # started again: one subscriber, same flags
        assert flags.get_value("color", "") == "red"
        publish(redis_server.url, KEY, doc("blue"))
        wait_until(lambda: flags.get_value("color", "") == "blue", timeout=10)
    with pytest.raises(ValueError, match="redis://"):
        RedisProvider("http://127.0.0.1/", key=KEY)
    with pytest.raises(ValueError, match="key"):
        RedisProvider(redis_server.url, key="")
    with pytest.raises(ValueError, match="positive"):
        RedisProvider(redis_server.url, key=KEY, poll_interval=0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_fork_child_subscribes_anew_and_the_parent_keeps_its_connection(
    redis_server: RedisServer, admin: redis.Redis
) -> None:
    publish(redis_server.url, KEY, doc("red"))
    flags = Flags(provider(redis_server))
    assert flags.wait_ready(10)
    channel = f"{KEY}:changed"
    wait_until(lambda: admin.pubsub_numsub(channel)[0][1] == 1)

    def child(send: Callable[[dict[str, object]], None]) -> None:
        send({"inherited": flags.get_value("color", "")})
        value = wait_until(lambda: flags.get_value("color", "") == "blue" and "blue", timeout=10)
        send({"seen": value})
        flags.close()

    pid, fd = run_in_child(child)
    try:
        messages = Messages(fd)
        assert messages.next() == {"inherited": "red"}
        wait_until(lambda: admin.pubsub_numsub(channel)[0][1] == 2, timeout=10)  # the child's own
        publish(redis_server.url, KEY, doc("blue"))
        assert messages.next() == {"seen": "blue"}
        assert reap(pid) == 0
        wait_until(lambda: flags.get_value("color", "") == "blue", timeout=10)
        # The child's exit did not break the parent's subscription.
        wait_until(lambda: admin.pubsub_numsub(channel)[0][1] == 1, timeout=10)
        publish(redis_server.url, KEY, doc("green"))
        wait_until(lambda: flags.get_value("color", "") == "green", timeout=10)
    finally:
        os.close(fd)
        flags.close()
