"""A real nginx on 127.0.0.1 serving a directory (tests and the fleet benchmark).

nginx makes its own ETag (mtime and size) and answers ``If-None-Match`` with 304. The access
log has one line per request: ``<unix time with ms> <method> <uri> <status>``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .redis_server import free_port

__all__ = ["NginxServer", "find_nginx"]

_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/bin/nginx")

_CONFIG = """
daemon off;
master_process off;
worker_processes 1;
{user}
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{ application/yaml yaml; application/json json; }}
    log_format timed '$msec $request_method $uri $status';
    access_log {root}/access.log timed;
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


def find_nginx() -> str | None:
    """The nginx binary, or None when it is not installed."""
    found = shutil.which("nginx")
    if found:
        return found
    return next((path for path in _CANDIDATES if os.access(path, os.X_OK)), None)


class NginxServer:
    """nginx serving ``root/www`` on a free port; logs in ``root``.

    Attributes:
        base: ``http://127.0.0.1:PORT``.
        www: The document root.
        access_log: The access log file.
    """

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.www = root / "www"
        self.access_log = root / "access.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start nginx and wait until it accepts connections.

        Raises:
            RuntimeError: nginx exited or did not listen in time (with its output and log).
        """
        self.www.mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        user = "user root;" if os.geteuid() == 0 else ""
        config = self.root / "nginx.conf"
        config.write_text(_CONFIG.format(root=self.root, port=self.port, user=user))
        process = self.process = subprocess.Popen(
            [self.binary, "-p", str(self.root), "-c", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    if process.poll() is None:
                        process.kill()
                    output = process.communicate(timeout=5)[0].decode(errors="replace")
                    log = self.root / "error.log"
                    detail = output + (log.read_text() if log.exists() else "")
                    self.stop()
                    raise RuntimeError(f"nginx did not start: {detail}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Terminate nginx (idempotent)."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process.stdout:
            process.stdout.close()
