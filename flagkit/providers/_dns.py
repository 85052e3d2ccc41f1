"""Name resolution with a timeout for the default HTTP transport.

``socket.getaddrinfo`` cannot be interrupted or given a timeout: a lookup runs in a daemon
thread that a waiting fetch may abandon, and a hung resolver costs one thread, not one per fetch.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any

__all__ = ["Aborted", "Addresses", "Resolver"]


class Aborted(OSError):
    """The fetch was aborted (``StdlibTransport.abort``, a stop, or the deadline)."""


Addresses = list[tuple[Any, ...]]
"""What ``socket.getaddrinfo`` returns: (family, type, proto, canonname, sockaddr) tuples."""


_HALT_POLL = 0.05
"""How often a DNS wait checks for an abort (getaddrinfo itself cannot be interrupted)."""


class _Lookup:
    """One getaddrinfo call running in its own daemon thread."""

    def __init__(self, host: str, port: int) -> None:
        self.done = threading.Event()
        self.result: Addresses | BaseException | None = None
        # Not a _workers.Worker, on purpose: this is a one-shot call, not a loop with an owner.
        # getaddrinfo cannot be interrupted, so a Worker's bounded stop could not end it; the
        # thread must be abandonable on timeout, holds nothing but host and port, and ends
        # when the lookup returns. A fork child drops it with the Resolver (_forget_after_fork).
        threading.Thread(target=self._run, args=(host, port), name="flagkit-http-dns", daemon=True).start()

    def _run(self, host: str, port: int) -> None:
        try:
            self.result = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as exc:  # handed to the waiting thread
            self.result = exc
        self.done.set()


class Resolver:
    """getaddrinfo with a timeout, and at most one lookup in flight per host and port.

    getaddrinfo cannot be interrupted, so a lookup runs in a daemon thread that a timed-out
    fetch abandons. The next fetch waits on that same lookup instead of starting another:
    a resolver that hangs costs one thread, not one per fetch. A lookup that has finished is
    never reused (no caching beyond the system's own).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], _Lookup] = {}

    def resolve(self, host: str, port: int, timeout: float, halt: threading.Event) -> Addresses:
        """The addresses of ``host``; waiting ends early when ``halt`` is set (an abort).

        Raises:
            TimeoutError: No answer within ``timeout`` (the lookup goes on, for the next fetch).
            OSError: The lookup failed, or ``Aborted``.
        """
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:  # an IP literal needs no lookup, so no thread
            return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        key = (host, port)
        with self._lock:
            lookup = self._pending.get(key)
            if lookup is None or lookup.done.is_set():
                lookup = self._pending[key] = _Lookup(host, port)
        end = time.monotonic() + timeout
        while not lookup.done.wait(min(_HALT_POLL, max(0.0, end - time.monotonic()))):
            if halt.is_set():
                raise Aborted("fetch aborted")
            if time.monotonic() >= end:
                raise TimeoutError(f"DNS lookup of {host!r} timed out")
        with self._lock:
            if self._pending.get(key) is lookup:
                del self._pending[key]
        outcome = lookup.result
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None  # done is set after the result
        return outcome
