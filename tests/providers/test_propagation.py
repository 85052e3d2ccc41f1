"""The propagation matrix (issue 16): every provider serves the last change of every pattern.

Rows (providers and origins, all real):

* ``file-watched`` - FileProvider with its watchdog observer (the stat poll set to 30 s, so
  the watcher is what is measured);
* ``file-polled`` - FileProvider whose watcher cannot start (inotify's watch limit,
  ENOSPC, raised where the observer is set up), so it polls every 0.25 s;
* ``http-nginx`` - HttpProvider (0.25 s) against real nginx: ETag from mtime and size, plus
  Last-Modified;
* ``http-lastmod`` - against ``python -m http.server``: Last-Modified only;
* ``http-hash-etag`` - against a server whose ETag is the content's SHA-256 (strong);
* ``http-mtime-etag`` - against a server whose only validator is nginx's mtime-size ETag
  (no Last-Modified, so nothing tells the client it is weak): bounded by the full read
  every ``full_read_interval`` (2 s here);
* ``redis`` - RedisProvider (0.25 s polls, 2 s full reads) against a real redis-server.

The other HTTP rows keep the default-like ``full_read_interval`` of 60 s: a same-second edit
must be served because the weak validators are not used, not because of the full read.

Columns (change patterns): atomic rename, in-place write, same-second edit (another size),
same-second same-size edit, two same-second edits 250 ms apart, ConfigMap ``..data`` symlink
swap. "Same second" is deterministic: the mtimes are set (``os.utime``) to one whole second
the origin's ``Date`` has not reached, which is how a second edit within the second of the
previous response relates to it. For Redis the patterns map to its own writes (see
``REDIS_PATTERNS``); a symlink swap has no Redis equivalent and is not generated.

Every case must serve its last change within ``BOUND`` seconds. The measured latencies are
collected; with ``FLAGKIT_PROPAGATION_REPORT=<path>`` the run writes them (per row: max and
per pattern) as JSON. docs/deployment.md quotes them.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from flagkit import FileProvider, Flags, HttpProvider, RedisProvider
from flagkit.providers import _watch
from flagkit.providers._redis_wire import publish
from tests.helpers import missing_tool
from tests.helpers.nginx import NginxServer, find_nginx
from tests.helpers.origins import HashEtagServer, PythonHttpServer
from tests.helpers.redis_server import RedisServer
from tests.helpers.saves import wait_until, write_atomic_rename

pytestmark = pytest.mark.slow

BOUND = 10.0
"""Seconds within which every row must serve the last change (intervals are 0.25 s)."""

INTERVAL = 0.25
FULL_READ = 60.0
FULL_READ_WEAKEST = 2.0
"""``full_read_interval`` of the rows whose validator cannot show a same-second edit at all."""

FILE_PATTERNS = ("atomic-rename", "in-place", "same-second", "same-size", "two-edits-250ms", "configmap-swap")
REDIS_PATTERNS = {
    "atomic-rename": "publish (MULTI: key, label, PUBLISH)",
    "in-place": "plain SET of the key, the old label left behind",
    "same-second": "two publishes back to back",
    "same-size": "plain SET of a same-size document, the old label left behind",
    "two-edits-250ms": "two publishes 250 ms apart",
}
ROWS = ("file-watched", "file-polled", "http-nginx", "http-lastmod", "http-hash-etag", "http-mtime-etag")

MEASURED: dict[str, dict[str, float]] = {}


def doc(color: str) -> str:
    return f"features:\n  color: {color}\n  checkout: true\n"


# --- origins (one of each per module) ---------------------------------------------------


@dataclass
class Origins:
    root: Path
    nginx: NginxServer
    lastmod: PythonHttpServer
    hash_etag: HashEtagServer
    mtime_etag: HashEtagServer


@pytest.fixture(scope="module")
def origins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origins]:
    binary = find_nginx()
    if binary is None:
        missing_tool("nginx", "apt-get install nginx")
    base = tmp_path_factory.mktemp("propagation")
    www = base / "nginx" / "www"  # one document root, served by all four origins
    www.mkdir(parents=True)
    nginx = NginxServer(binary, base / "nginx")
    lastmod = PythonHttpServer(www)
    hash_etag = HashEtagServer(www)
    mtime_etag = HashEtagServer(www, etag="mtime-size")
    started: list[Any] = []
    try:
        for server in (nginx, lastmod, hash_etag, mtime_etag):
            server.start()
            started.append(server)
        yield Origins(www, nginx, lastmod, hash_etag, mtime_etag)
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    target = os.environ.get("FLAGKIT_PROPAGATION_REPORT")
    if target and MEASURED:
        rows = {
            row: {"max": max(cells.values()), "patterns": {k: round(v, 3) for k, v in cells.items()}}
            for row, cells in MEASURED.items()
        }
        Path(target).write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")


# --- the change patterns on a file ------------------------------------------------------


def future_second() -> float:
    """A whole second that no ``Date`` during the test reaches (see the module docstring)."""
    return float(int(time.time()) + 3600)


def write_at(path: Path, text: str, mtime: float) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.utime(path, (mtime, mtime))


class ConfigMap:
    """A ConfigMap volume as the kubelet writes it (``..<timestamp>`` dirs, ``..data`` swap),
    with the files' mtimes set to one second."""

    def __init__(self, directory: Path, text: str, mtime: float) -> None:
        self.directory = directory
        self.generation = 0
        self.mtime = mtime
        directory.mkdir(parents=True)
        self._publish(text)
        os.symlink(os.path.join("..data", "flags.yaml"), directory / "flags.yaml")

    def swap(self, text: str) -> None:
        old = os.readlink(self.directory / "..data")
        self._publish(text)
        shutil.rmtree(self.directory / old)

    def _publish(self, text: str) -> None:
        self.generation += 1
        version = f"..2026_12_07_00_00_{self.generation:02d}.{os.getpid()}"
        (self.directory / version).mkdir()
        write_at(self.directory / version / "flags.yaml", text, self.mtime)
        os.symlink(version, self.directory / "..data_tmp")
        os.replace(self.directory / "..data_tmp", self.directory / "..data")


def prepare(directory: Path, pattern: str) -> tuple[Path, Callable[[], None], str]:
    """Write the first version; return the path, the change to make and the last color."""
    directory.mkdir(parents=True)
    path = directory / "flags.yaml"
    second = future_second()
    if pattern == "configmap-swap":
        configmap = ConfigMap(directory / "cm", doc("red"), second)
        return configmap.directory / "flags.yaml", lambda: configmap.swap(doc("tan")), "tan"
    if pattern in ("atomic-rename", "in-place"):
        path.write_text(doc("red"))
        if pattern == "atomic-rename":
            return path, lambda: write_atomic_rename(path, doc("blue")), "blue"

        def in_place() -> None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(doc("blue"))

        return path, in_place, "blue"
    write_at(path, doc("red"), second)
    if pattern == "same-second":
        return path, lambda: write_at(path, doc("blue"), second), "blue"
    if pattern == "same-size":
        return path, lambda: write_at(path, doc("tan"), second), "tan"

    def two_edits() -> None:
        write_at(path, doc("tan"), second)
        time.sleep(0.25)
        write_at(path, doc("sky"), second)

    return path, two_edits, "sky"


def make_provider(row: str, path: Path, origins: Origins) -> HttpProvider | FileProvider:
    if row == "file-watched":
        return FileProvider(path, poll_interval=30.0)
    if row == "file-polled":
        return FileProvider(path, poll_interval=INTERVAL)
    relative = path.relative_to(origins.root).as_posix()
    base, full_read = {
        "http-nginx": (origins.nginx.base, FULL_READ),
        "http-lastmod": (origins.lastmod.base, FULL_READ),
        "http-hash-etag": (origins.hash_etag.base, FULL_READ),
        "http-mtime-etag": (origins.mtime_etag.base, FULL_READ_WEAKEST),
    }[row]
    return HttpProvider(
        f"{base}/{relative}", interval=INTERVAL, backoff=(0.05, 0.5), full_read_interval=full_read
    )


def settle(flags: Flags, name: str, checks: int = 2) -> None:
    """Wait until the provider has checked its source ``checks`` more times (fresh_at moves),
    so the change below meets a client holding the first version's validators."""
    for _ in range(checks):
        seen = flags.status()[name].fresh_at or 0.0
        wait_until(lambda seen=seen: (flags.status()[name].fresh_at or 0.0) > seen, timeout=BOUND)


def record(row: str, pattern: str, seconds: float) -> None:
    MEASURED.setdefault(row, {})[pattern] = seconds


def measure(flags: Flags, change: Callable[[], None], last: str) -> float:
    change()
    start = time.monotonic()  # after the last write: the latency of the last change
    wait_until(lambda: flags.get_value("color", "") == last, timeout=BOUND, interval=0.01)
    return time.monotonic() - start


@pytest.mark.parametrize("pattern", FILE_PATTERNS)
@pytest.mark.parametrize("row", ROWS)
def test_the_last_change_is_served(
    row: str,
    pattern: str,
    origins: Origins,
    monkeypatch: pytest.MonkeyPatch,
    no_thread_leaks: None,
) -> None:
    if row == "file-polled":

        def no_inotify(self: object, dirs: object, targets: object) -> bool:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

        monkeypatch.setattr(_watch.DirectoryWatcher, "ensure", no_inotify)
    path, change, last = prepare(origins.root / f"{row}-{pattern}", pattern)
    provider = make_provider(row, path, origins)
    with Flags(provider) as flags:
        assert flags.wait_ready(BOUND)
        assert flags.get_value("color", "") == "red"
        if row != "file-watched":  # the watcher does not poll; it reacts to events
            settle(flags, provider.name)
        seconds = measure(flags, change, last)
        record(row, pattern, seconds)
        status = flags.status()[provider.name]
        assert status.state == "ready"
        assert seconds <= BOUND


@pytest.mark.parametrize("pattern", sorted(REDIS_PATTERNS))
def test_the_last_change_is_served_from_redis(
    pattern: str, redis_server: RedisServer, no_thread_leaks: None
) -> None:
    key = f"flags:propagation:{pattern}"
    publish(redis_server.url, key, doc("red").encode())
    admin = redis.Redis.from_url(redis_server.url)

    def change() -> None:
        if pattern == "atomic-rename":
            publish(redis_server.url, key, doc("blue").encode())
        elif pattern == "in-place":
            admin.set(key, doc("blue"))
        elif pattern == "same-second":
            publish(redis_server.url, key, doc("tan").encode())
            publish(redis_server.url, key, doc("blue").encode())
        elif pattern == "same-size":
            admin.set(key, doc("tan"))
        else:
            publish(redis_server.url, key, doc("tan").encode())
            time.sleep(0.25)
            publish(redis_server.url, key, doc("sky").encode())

    last = {"in-place": "blue", "atomic-rename": "blue", "same-second": "blue", "same-size": "tan"}
    source = RedisProvider(
        redis_server.url,
        key=key,
        poll_interval=INTERVAL,
        full_read_interval=FULL_READ_WEAKEST,
        backoff=(0.05, 0.5),
        timeout=2.0,
    )
    try:
        with Flags(source) as flags:
            assert flags.wait_ready(BOUND)
            settle(flags, source.name)
            seconds = measure(flags, change, last.get(pattern, "sky"))
            record("redis", pattern, seconds)
            assert flags.status()[source.name].state == "ready"
            assert seconds <= BOUND
    finally:
        admin.close()
