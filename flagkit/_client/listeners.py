"""Listener delivery off the reload path: a dispatcher thread per client, a lane per listener.

A provider's thread publishes the new snapshot and queues the event on each listener's lane
(:class:`ListenerLanes`), whose own thread (``flagkit-listener``) calls that listener. A slow
or raising listener therefore never delays the next reload, nor another listener, and a storm
of reloads cannot pile up listener calls (each lane is a :class:`Dispatcher`; the client's own
``flagkit-dispatch`` thread only ticks, for supervision):

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
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from .._workers import Worker

__all__ = ["Dispatcher", "ListenerLanes", "Sink"]

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
        name: The thread's name.
    """

    def __init__(
        self, owner: Sink, *, limit: int = 100, tick: float = 1.0, name: str = "flagkit-dispatch"
    ) -> None:
        self._worker: Worker[Sink] = Worker(name, self._step, owner)
        self._name = name
        self._limit = limit
        self._tick = tick
        self._cond = threading.Condition()
        self._queue: deque[_Event] = deque()
        self._errors = 0
        self._busy = False
        self._closed = False
        self._overflowing = False
        self._next_tick = 0.0
        self.dropped = 0
        """Error events dropped because too many were waiting."""
        self.dropped_at_close = 0
        """Events still waiting when :meth:`close` gave up on a stuck listener."""

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
        self._worker.wake()

    # --- lifecycle --------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start the thread if it is not running (idempotent; never once closed)."""
        if not self._closed and not self._worker.alive:
            self._next_tick = time.monotonic() + self._tick
            self._worker.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event queued so far has been delivered. False on timeout.

        Called from a listener (the dispatcher thread itself) it returns False at once.
        """
        if threading.current_thread() is self._worker.thread:
            return False
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self, timeout: float = 1.0) -> None:
        """Deliver what is queued (for up to ``timeout`` seconds), then end the thread.

        Events still waiting after ``timeout`` (a listener is stuck) are dropped, counted in
        :attr:`dropped_at_close` and logged once at WARNING; the thread ends once the call in
        progress returns.
        """
        with self._cond:
            self._closed = True
        self._worker.wake()  # it delivers what is queued, then ends
        self.flush(timeout)
        with self._cond:
            left = len(self._queue)
            if left:
                self.dropped_at_close += left
                logger.warning(
                    "flagkit: %d listener events not delivered at close (%s is still running after %.1f s)",
                    left,
                    self._name,
                    timeout,
                )
            self._queue.clear()
            self._errors = 0
            self._cond.notify_all()
        self._worker.stop(0.1)

    def after_fork(self) -> None:
        """In a fork child: the thread is gone (see :mod:`flagkit._workers`) and the lock may
        be held; start afresh. Events queued in the parent are the parent's to deliver."""
        self._cond = threading.Condition()
        self._queue = deque()
        self._errors = 0
        self._busy = False

    # --- the thread (a Worker: owner held weakly, errors logged, one fork rule) -------------

    def _step(self, owner: Sink) -> float | None:
        """Deliver what is queued, one event at a time; while idle, tick ``owner`` every
        ``tick`` seconds. None (the thread ends) once closed and drained."""
        while True:
            with self._cond:
                if not self._queue:
                    if self._closed:
                        return None
                    break
                event = self._queue.popleft()
                if isinstance(event, _Error):
                    self._errors -= 1
                    if not self._errors:
                        self._overflowing = False
                self._busy = True
            self._deliver(owner, event)
        now = time.monotonic()
        if now >= self._next_tick:
            self._next_tick = now + self._tick
            self._deliver(owner, None)
        return max(0.0, self._next_tick - time.monotonic())

    def _deliver(self, owner: Sink, event: _Event | None) -> None:
        """Hand ``event`` to ``owner`` (None: a tick); nothing it raises ends the thread."""
        try:
            if event is None:
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
            with self._cond:
                self._busy = False
                self._cond.notify_all()


ChangeListener = Callable[[frozenset[str]], None]
ErrorListener = Callable[[str, BaseException], None]
RecoveryListener = Callable[[str], object]


class _Lane:
    """One listener as a :class:`Sink`: its own dispatcher (thread, queue) calls only it.

    A lane gets only the events of its listener's kind (see :class:`ListenerLanes`).
    """

    __slots__ = ("__weakref__", "dispatcher", "listener")

    def __init__(self, listener: Callable[..., object]) -> None:
        self.listener = listener
        # Owned weakly by the lane: when a client dropped without close() is collected, its
        # lanes are, and their threads end at once (not at their next 60 s tick).
        self.dispatcher = Dispatcher(self, tick=60.0, name="flagkit-listener")

    def _call(self, kind: str, *args: object) -> None:
        try:
            self.listener(*args)
        except BaseException:  # even SystemExit: the lane must go on
            logger.exception("flagkit: %s listener failed", kind)

    def _deliver_change(self, keys: frozenset[str]) -> None:
        self._call("on_change", keys)

    def _deliver_error(self, name: str, error: BaseException) -> None:
        self._call("on_error", name, error)

    def _deliver_recovery(self, name: str) -> None:
        self._call("on_recover", name)

    def _tick(self) -> None:
        pass


class ListenerLanes:
    """Each listener on its own lane: a :class:`Dispatcher` (daemon thread ``flagkit-listener``,
    bounded queue, merged changes) per listener, so a slow listener delays only its own later
    calls, never another listener's. The client queues each event on every lane (an append
    under the lane's lock), in the order the events happened; each listener sees that order.
    """

    def __init__(self) -> None:
        self._changes: list[_Lane] = []
        self._errors: list[_Lane] = []
        self._recoveries: list[_Lane] = []
        self._lock = threading.Lock()  # adding a lane vs close(): no lane starts after close
        self._closed = False

    def _add(self, lanes: list[_Lane], lane: _Lane) -> list[_Lane]:
        """``lanes`` with ``lane`` started (unchanged once closed: nothing would ever be
        delivered, and its thread would never end). Caller holds the lock."""
        if self._closed:
            return lanes
        lane.dispatcher.ensure_started()
        return [*lanes, lane]

    def add_change(self, listener: ChangeListener) -> None:
        """Give ``listener`` (an ``on_change`` listener) its lane (none once closed)."""
        with self._lock:
            self._changes = self._add(self._changes, _Lane(listener))

    def add_error(self, listener: ErrorListener) -> None:
        """Give ``listener`` (an ``on_error`` listener) its lane (none once closed)."""
        with self._lock:
            self._errors = self._add(self._errors, _Lane(listener))

    def add_recovery(self, listener: RecoveryListener) -> None:
        """Give ``listener`` (an ``on_recover`` listener) its lane (none once closed)."""
        with self._lock:
            self._recoveries = self._add(self._recoveries, _Lane(listener))

    def put_change(self, keys: frozenset[str]) -> None:
        """Queue a change on every change listener's lane."""
        for lane in self._changes:
            lane.dispatcher.put_change(keys)

    def put_error(self, name: str, error: BaseException) -> None:
        """Queue an error on every error listener's lane."""
        for lane in self._errors:
            lane.dispatcher.put_error(name, error)

    def put_recovery(self, name: str) -> None:
        """Queue a recovery on every recovery listener's lane."""
        for lane in self._recoveries:
            lane.dispatcher.put_recovery(name)

    def _all(self) -> list[_Lane]:
        return [*self._changes, *self._errors, *self._recoveries]

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every lane has delivered what was queued so far; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for lane in self._all():
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not lane.dispatcher.flush(remaining):
                return False
        return True

    @property
    def dropped(self) -> int:
        """Error events dropped, over all lanes, because too many were waiting."""
        return sum(lane.dispatcher.dropped for lane in self._all())

    def close(self, timeout: float = 1.0) -> None:
        """Deliver what is queued (for up to ``timeout`` seconds in all), then end the threads."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._closed = True
        for lane in self._all():
            lane.dispatcher.close(max(0.0, deadline - time.monotonic()))

    def start(self) -> None:
        """Start every lane's thread that is not running (a fork child's first use)."""
        for lane in self._all():
            lane.dispatcher.ensure_started()

    def after_fork(self) -> None:
        """In a fork child: every lane starts afresh (the parent delivers its own queue), its
        thread at the child's first use (:meth:`start`)."""
        self._lock = threading.Lock()  # another thread of the parent may have held it
        if self._closed:
            return
        for lane in self._all():
            lane.dispatcher.after_fork()
