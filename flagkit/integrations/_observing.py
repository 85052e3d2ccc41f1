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
import functools
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from flagkit import Flags
from flagkit._workers import Worker

__all__ = ["UsageExport", "add_observers"]

logger = logging.getLogger("flagkit")


def add_observers(client: Flags, *, hooks: Sequence[Any], exposures: Sequence[Callable[..., Any]]) -> None:
    """Register configured hooks and exposure callbacks on a client the integration built."""
    for hook in hooks:
        client.add_hook(hook)
    for callback in exposures:
        client.on_exposure(callback)


class UsageExport:
    """Export ``client.usage()`` to ``path`` (``{pid}``/``{host}`` filled in) periodically and at exit.

    The exporting thread (``flagkit-usage-export``) is a :class:`~flagkit._workers.Worker`
    owned by the client, which it holds only weakly, as does this exporter: a client that is
    closed or dropped (its app dropped) ends the thread within seconds and is collected. In a
    fork child the thread is started again by the first :meth:`ensure_started` (the workers'
    fork rule); an exporter stopped in the parent stays stopped.
    """

    def __init__(self, client: Flags, path: str, interval: float = 60.0) -> None:
        if interval <= 0:
            raise ValueError("the usage export interval must be positive")
        self._client = weakref.ref(client)
        self.path = path
        self.interval = interval
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._export_lock = threading.Lock()
        self._next = 0.0
        self._worker: Worker[Flags] = Worker(
            "flagkit-usage-export", functools.partial(_export_step, weakref.ref(self)), client
        )

    @property
    def client(self) -> Flags | None:
        """The client whose usage is exported (None once it was collected)."""
        return self._client()

    @property
    def running(self) -> bool:
        """Whether this process's exporting thread is alive."""
        return self._worker.alive

    def target(self) -> str:
        """The file this process writes."""
        return self.path.format(pid=os.getpid(), host=socket.gethostname())

    def ensure_started(self) -> None:
        """Start this process's exporter if it is not running (a cheap pid test per request)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid() or self._stopped:
                return
            self._pid = os.getpid()
            self._next = time.monotonic() + self.interval
            self._worker.start()  # in a fork child the worker was reset to not started
            # Weakly: an exit handler must not keep a dropped app's exporter (and client) alive.
            atexit.register(_at_exit, weakref.ref(self), self._pid)

    def export(self) -> None:
        """Write the file now (errors are logged: an export never breaks a request)."""
        client = self._client()
        if client is not None:
            self._export(client)

    def _export(self, client: Flags) -> None:
        target = self.target()
        with self._export_lock:  # the periodic thread and the exit handler: one merge at a time
            try:
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                client.export_usage(target)
            except Exception:
                logger.exception("flagkit: exporting usage to %s failed", target)

    def stop(self, timeout: float = 1.0) -> bool:
        """Stop exporting in this process: no periodic export and none at exit (the client is
        being replaced or closed; a final export is the caller's). Waits for the thread at
        most ``timeout`` seconds; True when it has ended."""
        self._stopped = True
        return self._worker.stop(timeout)


def _export_step(ref: weakref.ref[UsageExport], client: Flags) -> float | None:
    """One step of the exporting worker: wait for the interval, export; None (the end) once
    the exporter is stopped or gone or the client closed."""
    exporter = ref()
    if exporter is None or exporter._stopped or client.closed:
        return None
    wait = exporter._next - time.monotonic()
    if wait > 0:
        return wait
    exporter._export(client)
    exporter._next = time.monotonic() + exporter.interval
    return exporter.interval


def _at_exit(ref: weakref.ref[UsageExport], pid: int) -> None:
    exporter = ref()
    if exporter is None or os.getpid() != pid or exporter._stopped:  # not in a fork child that inherited it
        return
    exporter._worker.signal_stop()
    exporter.export()
