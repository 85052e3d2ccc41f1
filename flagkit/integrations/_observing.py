"""Usage counting, exposures and hooks from a framework's configuration (Django's
``settings.FLAGKIT``, Flask's ``app.config``), and the per-process usage export.

Each web worker counts its own evaluations. :class:`UsageExport` writes them to a file per
process: the path may hold ``{pid}`` (and ``{host}``), so the two workers of
``gunicorn -w 2`` write ``usage/web-4711.json`` and ``usage/web-4712.json``, which
``flagkit scan --usage`` and ``flagkit validate --usage`` merge. It exports every ``interval``
seconds from a daemon thread started in the process that serves requests (lazily, on the
first request after a fork: nothing runs in a ``--preload`` master), and once more when the
worker exits normally.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from flagkit import Flags

__all__ = ["UsageExport", "add_observers"]

logger = logging.getLogger("flagkit")


def add_observers(client: Flags, *, hooks: Sequence[Any], exposures: Sequence[Callable[..., Any]]) -> None:
    """Register configured hooks and exposure callbacks on a client the integration built."""
    for hook in hooks:
        client.add_hook(hook)
    for callback in exposures:
        client.on_exposure(callback)


class UsageExport:
    """Export ``client.usage()`` to ``path`` (``{pid}``/``{host}`` filled in) periodically and at exit."""

    def __init__(self, client: Flags, path: str, interval: float = 60.0) -> None:
        if interval <= 0:
            raise ValueError("the usage export interval must be positive")
        self.client = client
        self.path = path
        self.interval = interval
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stopped = False
        self._export_lock = threading.Lock()

    def target(self) -> str:
        """The file this process writes."""
        return self.path.format(pid=os.getpid(), host=socket.gethostname())

    def ensure_started(self) -> None:
        """Start this process's exporter if it is not running (a cheap pid test per request)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stop = threading.Event()  # a fork child's copy of a parent's event is unrelated
            thread = threading.Thread(
                target=self._run, args=(self._stop,), name="flagkit-usage-export", daemon=True
            )
            thread.start()
            atexit.register(self._at_exit, self._pid)

    def export(self) -> None:
        """Write the file now (errors are logged: an export never breaks a request)."""
        target = self.target()
        with self._export_lock:  # the periodic thread and the exit handler: one merge at a time
            try:
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                self.client.export_usage(target)
            except Exception:
                logger.exception("flagkit: exporting usage to %s failed", target)

    def stop(self) -> None:
        """Stop exporting in this process: no periodic export and none at exit (the client is
        being replaced or closed; a final export is the caller's)."""
        self._stopped = True
        self._stop.set()

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            self.export()

    def _at_exit(self, pid: int) -> None:
        if os.getpid() == pid and not self._stopped:  # not in a fork child that inherited it
            self._stop.set()
            self.export()
