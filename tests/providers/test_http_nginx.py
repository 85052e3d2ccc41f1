"""HttpProvider against a real nginx serving the flag file from disk (nginx makes its own ETag).

The test starts nginx itself on 127.0.0.1 with a temporary config. ``.ci/run`` installs
nginx when it is missing; the test is skipped (saying why) only when nginx is not installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flagkit import Flags, HttpProvider
from tests.helpers.saves import wait_until, write_atomic_rename

pytestmark = pytest.mark.slow

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/bin/nginx")


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return next((path for path in NGINX_CANDIDATES if os.access(path, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


CONFIG = """
daemon off;
master_process off;
worker_processes 1;
{user}
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    types {{ application/yaml yaml; application/json json; }}
    log_format status '$request_method $uri $status';
    access_log {root}/access.log status;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
    }}
}}
"""


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """Run nginx on a free port. Yields (base URL, document root, access log)."""
    binary = find_nginx()
    if binary is None:
        pytest.skip("nginx is not installed (`.ci/run` installs nginx-light with apt-get)")
    (tmp_path / "www").mkdir()
    (tmp_path / "tmp").mkdir()
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    config = tmp_path / "nginx.conf"
    config.write_text(CONFIG.format(root=tmp_path, port=port, user=user))
    process = subprocess.Popen(
        [binary, "-p", str(tmp_path), "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    log = (tmp_path / "error.log").read_text() if (tmp_path / "error.log").exists() else ""
                    pytest.fail(f"nginx did not start: {output}{log}")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", tmp_path / "www", tmp_path / "access.log"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stdout:
            process.stdout.close()


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
        assert first_etag.startswith('"')  # nginx's ETag, not our content hash

        # Unchanged file: nginx answers the conditional request with 304.
        wait_until(lambda: "GET /flags.yaml 304" in access_log.read_text())

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
