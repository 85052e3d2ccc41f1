"""HttpProvider against a real nginx serving the flag file from disk (nginx makes its own ETag).

The test starts nginx itself on 127.0.0.1 with a temporary config. ``.ci/run`` installs
nginx when it is missing; the test is skipped (saying why) only when nginx is not installed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flagkit import Flags, HttpProvider
from tests.helpers import missing_tool
from tests.helpers.nginx import NginxServer, find_nginx
from tests.helpers.saves import wait_until, write_atomic_rename

pytestmark = pytest.mark.slow


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """Run nginx on a free port. Yields (base URL, document root, access log)."""
    binary = find_nginx()
    if binary is None:
        missing_tool("nginx", "apt-get install nginx")
    server = NginxServer(binary, tmp_path)
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server.base, server.www, server.access_log
    finally:
        server.stop()


def test_nginx_serves_flags_with_its_own_etag(nginx: tuple[str, Path, Path], no_thread_leaks: None) -> None:
    base, root, access_log = nginx
    (root / "flags.yaml").write_text("features:\n  color: red\n")
    provider = HttpProvider(f"{base}/flags.yaml", interval=0.05, backoff=(0.05, 0.2))
    with Flags(provider) as flags:
        assert flags.wait_ready(5)
        assert flags.get_value("color", "") == "red"
        (status,) = flags.status().values()
        first_etag = status.version
        assert first_etag is not None
        assert not first_etag.startswith('"')  # the content's hash, not nginx's ETag

        # Unchanged file: nginx answers the conditional request with 304.
        wait_until(lambda: " GET /flags.yaml 304" in access_log.read_text())

        # Change the file on disk: new ETag, new flags.
        time.sleep(1.1)  # nginx's ETag is mtime-seconds + size: make sure the mtime moves
        write_atomic_rename(root / "flags.yaml", "features:\n  color: blue\n")
        wait_until(lambda: flags.get_value("color", "") == "blue")
        (status,) = flags.status().values()
        assert status.version != first_etag
        assert status.state == "ready"

        # A missing file is a 404: last good flags stay.
        (root / "flags.yaml").unlink()
        wait_until(lambda: flags.status()[provider.name].state == "stale")
        assert "HTTP 404" in (flags.status()[provider.name].last_error or "")
        assert flags.get_value("color", "") == "blue"
