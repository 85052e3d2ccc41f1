"""Listener delivery off the reload path: one daemon thread per client, a bounded queue.

A provider's thread publishes the new snapshot and queues an event; the dispatcher thread
(``flagkit-dispatch``) calls the listeners. A slow or raising listener therefore never delays
the next reload, and a storm of reloads cannot pile up listener calls:

* events are delivered one at a time, in the order they happened;
* consecutive change events still waiting are merged into one (the union of their keys);
* error events are not merged; when more than ``limit`` are waiting the oldest is dropped
  (counted in :attr:`Dispatcher.dropped`, logged once per overflow);
* a listener that raises (anything, even ``SystemExit``) is logged and dispatch goes on.

While idle the thread calls its owner's ``_tick`` every ``tick`` seconds (the client uses
it to look for dead provider threads).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from typing import Literal, Protocol

__all__ = ["Dispatcher", "Sink"]

logger = logging.getLogger("flagkit")


class Sink(Protocol):
    """What the dispatcher delivers to (the client)."""

    def _deliver_change(self, keys: frozenset[str]) -> None: ...

    def _deliver_error(self, name: str, error: BaseException) -> None: ...

    def _deliver_recovery(self, name: str) -> None: ...

    def _tick(self) -> None: ...


class _Change:
    __slots__ = ("keys",)

    def __init__(self, keys: frozenset[str]) -> None:
        self.keys = keys


class _Error:
    __slots__ = ("error", "name")

    def __init__(self, name: str, error: BaseException) -> None:
        self.name = name
        self.error = error


class _Recovery:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


_Event = _Change | _Error | _Recovery


class Dispatcher:
    """Delivers change and error events to a :class:`Sink` on one daemon thread.

    Args:
        owner: Receives the events; held weakly (a dropped client ends the thread).
        limit: Most error events kept waiting.
        tick: Seconds between idle calls of ``owner._tick()``.
    """

    def __init__(self, owner: Sink, *, limit: int = 100, tick: float = 1.0) -> None:
        self._owner = weakref.ref(owner)
        self._limit = limit
        self._tick = tick
        self._cond = threading.Condition()
        self._queue: deque[_Event] = deque()
        self._errors = 0
        self._busy = False
        self._closed = False
        self._overflowing = False
        self._thread: threading.Thread | None = None
        self.dropped = 0
        """Error events dropped because too many were waiting."""

    # --- producers (provider threads) -----------------------------------------------------

    def put_change(self, keys: frozenset[str]) -> None:
        """Queue a change of ``keys``, merged into a change still waiting at the end."""
        with self._cond:
            if self._closed:
                return
            tail = self._queue[-1] if self._queue else None
            if isinstance(tail, _Change):
                tail.keys = tail.keys | keys
            else:
                self._queue.append(_Change(keys))
            self._wake()

    def put_error(self, name: str, error: BaseException) -> None:
        """Queue an error; the oldest waiting error is dropped beyond the limit."""
        with self._cond:
            if self._closed:
                return
            self._queue.append(_Error(name, error))
            self._errors += 1
            if self._errors > self._limit:
                self._drop_oldest_error()
            self._wake()

    def put_recovery(self, name: str) -> None:
        """Queue "provider ``name`` delivers good flags again" (after an error)."""
        with self._cond:
            if self._closed:
                return
            self._queue.append(_Recovery(name))
            self._wake()

    def _drop_oldest_error(self) -> None:
        items = list(self._queue)
        for index, item in enumerate(items):
            if isinstance(item, _Error):
                del items[index]
                break
        merged: list[_Event] = []
        for item in items:  # two changes that were around the dropped error become one
            last = merged[-1] if merged else None
            if isinstance(item, _Change) and isinstance(last, _Change):
                last.keys = last.keys | item.keys
            else:
                merged.append(item)
        self._queue = deque(merged)
        self._errors -= 1
        self.dropped += 1
        if not self._overflowing:
            self._overflowing = True
            logger.warning("flagkit: on_error listeners are too slow; dropping the oldest queued errors")

    def _wake(self) -> None:
        self.ensure_started()
        self._cond.notify_all()

    # --- lifecycle --------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start the thread if it is not running (idempotent)."""
        with self._cond:
            if self._closed or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name="flagkit-dispatch", daemon=True)
            self._thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event queued so far has been delivered. False on timeout.

        Called from a listener (the dispatcher thread itself) it returns False at once.
        """
        if threading.current_thread() is self._thread:
            return False
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self, timeout: float = 1.0) -> None:
        """Deliver what is queued (for up to ``timeout`` seconds), then end the thread.

        Events still waiting after ``timeout`` (a listener is stuck) are dropped; the thread
        ends once the call in progress returns.
        """
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.flush(timeout)
        with self._cond:
            self._queue.clear()
            self._errors = 0
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(0.1)

    def after_fork(self) -> None:
        """In a fork child: the thread is gone and the lock may be held; start afresh.

        Events queued in the parent are the parent's to deliver.
        """
        self._cond = threading.Condition()
        self._queue = deque()
        self._errors = 0
        self._busy = False
        self._thread = None

    # --- the thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            event = self._next()
            if event == "end":
                return
            owner = self._owner()
            if owner is None:
                return
            try:
                if event == "tick":
                    owner._tick()
                elif isinstance(event, _Change):
                    owner._deliver_change(event.keys)
                elif isinstance(event, _Recovery):
                    owner._deliver_recovery(event.name)
                else:
                    owner._deliver_error(event.name, event.error)
            except BaseException:  # the sink guards each listener; this is a last resort
                logger.exception("flagkit: delivering a listener event failed")
            finally:
                del owner
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _next(self) -> _Event | Literal["tick", "end"]:
        """The next event, ``"tick"`` (idle) or ``"end"`` (closed and drained)."""
        with self._cond:
            if not self._queue and not self._closed:
                self._cond.wait(self._tick)
            if self._queue:
                event = self._queue.popleft()
                if isinstance(event, _Error):
                    self._errors -= 1
                    if not self._errors:
                        self._overflowing = False
                self._busy = True
                return event
            if self._closed:
                return "end"
            self._busy = True
            return "tick"
