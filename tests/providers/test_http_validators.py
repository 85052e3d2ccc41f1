"""Validators that cannot see a change: HttpProvider must still serve it (issue 16).

``Last-Modified`` has one-second resolution and nginx's ETag is built from it (mtime and
size). A second edit within the second of the first keeps both, so a conditional request gets
304 for it forever. The tests make "within the second" deterministic without racing the
clock: the file's mtime is set (``os.utime``) to a second that the server's ``Date`` has not
reached yet, exactly the relation a same-second edit has to the previous response (its
``Last-Modified`` is not at least one second before the response's ``Date``).

Real origins: ``python -m http.server`` (Last-Modified only) in a subprocess, real nginx.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flagkit import Flags, HttpProvider
from tests.helpers import missing_tool
from tests.helpers.nginx import NginxServer, find_nginx
from tests.helpers.origins import PythonHttpServer
from tests.helpers.saves import wait_until

pytestmark = pytest.mark.slow

FUTURE_SECOND = 3600
"""How far ahead the mtimes are set: every ``Date`` during the test is before it."""


def doc(color: str) -> str:
    return f"features:\n  color: {color}\n"


def write(path: Path, text: str, mtime: float) -> None:
    """Rewrite ``path`` in place and give it ``mtime`` (whole seconds, as the server shows)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.utime(path, (mtime, mtime))


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[PythonHttpServer]:
    server = PythonHttpServer(tmp_path / "www")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[NginxServer]:
    binary = find_nginx()
    if binary is None:
        missing_tool("nginx", "apt-get install nginx")
    server = NginxServer(binary, tmp_path / "nginx")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def color(flags: Flags) -> str:
    return flags.get_value("color", "")


def checked(flags: Flags, name: str, times: int = 3) -> None:
    """Wait until the provider has checked its source ``times`` more times (fresh_at moves):
    before the fix those polls carried the validators that then hid the edit."""
    for _ in range(times):
        seen = flags.status()[name].fresh_at or 0.0
        wait_until(lambda seen=seen: (flags.status()[name].fresh_at or 0.0) > seen, timeout=10)


def test_same_second_edit_behind_last_modified_only_is_served(
    http_server: PythonHttpServer, no_thread_leaks: None
) -> None:
    path = http_server.root / "flags.yaml"
    second = float(int(time.time()) + FUTURE_SECOND)
    write(path, doc("red"), second)
    provider = HttpProvider(f"{http_server.base}/flags.yaml", interval=0.05, backoff=(0.05, 0.2))
    with Flags(provider) as flags:
        assert flags.wait_ready(10)
        assert color(flags) == "red"
        checked(flags, provider.name)
        write(path, doc("blue"), second)  # the same Last-Modified as the served version
        wait_until(lambda: color(flags) == "blue", timeout=15)
        assert flags.status()[provider.name].state == "ready"


def test_same_second_same_size_edit_behind_nginx_etag_is_served(
    nginx: NginxServer, no_thread_leaks: None
) -> None:
    path = nginx.www / "flags.yaml"
    second = float(int(time.time()) + FUTURE_SECOND)
    write(path, doc("red"), second)
    provider = HttpProvider(f"{nginx.base}/flags.yaml", interval=0.05, backoff=(0.05, 0.2))
    with Flags(provider) as flags:
        assert flags.wait_ready(10)
        before = flags.status()[provider.name].version
        checked(flags, provider.name)
        write(path, doc("tan"), second)  # same size, same second: nginx's ETag is unchanged
        wait_until(lambda: color(flags) == "tan", timeout=15)
        # nginx's ETag is the same for both; status().version is the content's hash, so the
        # replicas' drift alert can tell them apart.
        assert flags.status()[provider.name].version != before
        assert flags.status()[provider.name].version == hashlib.sha256(doc("tan").encode()).hexdigest()[:16]
        assert " 200" in nginx.access_log.read_text().splitlines()[-1]


def test_twenty_clients_two_edits_250ms_apart_all_serve_the_last(
    http_server: PythonHttpServer, no_thread_leaks: None
) -> None:
    """The issue's fleet: 20 clients polling, two edits 250 ms apart in one second."""
    path = http_server.root / "flags.yaml"
    second = float(int(time.time()) + FUTURE_SECOND)
    write(path, "features:\n  a: true\n  b: true\n", second)
    url = f"{http_server.base}/flags.yaml"
    clients = [Flags(HttpProvider(url, interval=0.2, backoff=(0.05, 0.2))) for _ in range(20)]
    try:
        for flags in clients:
            assert flags.wait_ready(15)
        write(path, "features:\n  a: false\n  b: true\n", second)
        time.sleep(0.25)
        write(path, "features:\n  a: false\n  b: false\n", second)
        wait_until(
            lambda: all(not f.get_value("b", True) and not f.get_value("a", True) for f in clients), 20
        )
        assert {s.state for f in clients for s in f.status().values()} == {"ready"}
    finally:
        for flags in clients:
            flags.close()


def test_a_validator_that_lies_is_bypassed_within_full_read_interval(
    http_server: PythonHttpServer, no_thread_leaks: None
) -> None:
    """A file replaced by one with an older mtime (``cp -p``, ``rsync -t``, a restored backup):
    its strong-looking Last-Modified hides the change; the periodic full read does not."""
    path = http_server.root / "flags.yaml"
    old = float(int(time.time()) - 100)
    write(path, doc("red"), old)
    provider = HttpProvider(
        f"{http_server.base}/flags.yaml", interval=0.05, backoff=(0.05, 0.2), full_read_interval=1.0
    )
    with Flags(provider) as flags:
        assert flags.wait_ready(10)
        checked(flags, provider.name)
        write(path, doc("blue"), old - 50)
        wait_until(lambda: color(flags) == "blue", timeout=15)


def test_weak_validators_are_not_kept_in_the_cache(
    http_server: PythonHttpServer, tmp_path: Path, no_thread_leaks: None
) -> None:
    """The disk cache used at start: validators weak when cached are not sent by the next start
    (a same-second edit made while the app was down would be 304'd); strong ones are."""
    path = http_server.root / "flags.yaml"
    cache = tmp_path / "cache.json"
    second = float(int(time.time()) + FUTURE_SECOND)
    write(path, doc("red"), second)
    url = f"{http_server.base}/flags.yaml"
    with Flags(HttpProvider(url, interval=0.05, cache_path=cache)) as flags:
        assert flags.wait_ready(10)
        wait_until(cache.exists)
    assert json.loads(cache.read_text())["strong"] is False
    write(path, doc("blue"), second)  # edited in the same second while the app was down
    with Flags(HttpProvider(url, interval=0.05, cache_path=cache)) as flags:
        assert flags.wait_ready(10)
        wait_until(lambda: color(flags) == "blue", timeout=15)
    # The same body with a Last-Modified long before Date: the cache learns strong validators.
    write(path, doc("blue"), float(int(time.time()) - 100))
    with Flags(HttpProvider(url, interval=0.05, cache_path=cache)) as flags:
        assert flags.wait_ready(10)
        wait_until(lambda: json.loads(cache.read_text())["strong"] is True, timeout=15)


@pytest.mark.parametrize(
    ("last_modified", "date", "strong"),
    [
        (None, None, True),  # ETag only (or no validator): trusted, bounded by full reads
        ("Mon, 07 Dec 2026 02:00:00 GMT", "Mon, 07 Dec 2026 02:00:01 GMT", True),
        ("Mon, 07 Dec 2026 02:00:00 GMT", "Mon, 07 Dec 2026 02:00:00 GMT", False),
        ("Mon, 07 Dec 2026 02:00:05 GMT", "Mon, 07 Dec 2026 02:00:00 GMT", False),  # in the future
        ("Mon, 07 Dec 2026 02:00:00 GMT", None, False),  # no Date to compare with
        ("not a date", "Mon, 07 Dec 2026 02:00:00 GMT", False),
    ],
)
def test_validators_are_strong_follows_rfc_9110(
    last_modified: str | None, date: str | None, strong: bool
) -> None:
    from flagkit.providers._conditional import validators_are_strong
    from flagkit.providers.transport import FetchResponse

    headers = {"ETag": '"x"', "Last-Modified": last_modified, "Date": date}
    response = FetchResponse(200, b"", {k: v for k, v in headers.items() if v is not None}, "http://h/")
    assert validators_are_strong(response) is strong
