"""One primitive for every background thread flagkit runs: :class:`Worker`.

Lifecycle of a worker::

    Worker(name, step, owner)  --start()-->  running  --stop() / owner collected-->  ended
                                               |  ^
                                    fork child |  | start() (the owner's first use in the child)
                                               v  |
                                           not started

* **A daemon thread named** ``name`` runs ``step(owner)`` over and over. A step does one piece
  of work and returns how long to wait before the next (:data:`UNTIL_WOKEN` waits for
  :meth:`Worker.wake`), or ``None`` when the work is done: the thread ends.
* **The owner is held weakly.** The worker holds it only while a step runs; between steps only
  a weak reference, so a worker never keeps its owner alive. When the owner is
  garbage-collected the worker is told to stop at once (a weak-reference callback sets its
  stop event and wakes it) and its thread ends after the step in progress, within seconds.
  The step itself (a bound method, a ``partial``) must not reference the owner strongly.
* **Stop** (:meth:`Worker.stop`) sets the stop event, wakes the thread and joins it for at most
  ``timeout`` seconds (never itself); a stopped worker does not start again.
  :meth:`Worker.signal_stop` only sets the event (for finalizers and hooks that must not block).
* **Errors never end the loop silently.** An ``Exception`` raised by a step is logged with its
  traceback and the loop goes on after a pause that doubles from 0.05 s to 5 s (reset by a step
  that returns normally). A ``BaseException`` that is not an ``Exception`` (``SystemExit`` raised
  by user code, an asynchronous exception) ends the thread: logged at CRITICAL and kept in
  :attr:`Worker.failure`, so a supervisor can report it and start a new worker.
* **Fork: one rule.** In a fork child the parent's threads do not exist. This module registers
  one ``os.register_at_fork`` hook; in the child it resets every worker that was started and not
  stopped to *not started* (fresh events, no thread) and starts nothing: whoever uses the worker
  starts it again with :meth:`Worker.start` (idempotent) at its first use in the child. A worker
  stopped in the parent stays stopped.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["UNTIL_WOKEN", "Worker"]

logger = logging.getLogger("flagkit")

UNTIL_WOKEN = math.inf
"""A step's return value: wait for :meth:`Worker.wake` (or the stop) before the next step."""

_PAUSES = (0.05, 5.0)
"""First and longest pause after a step that raised (doubling in between)."""

OwnerT = TypeVar("OwnerT")

_WORKERS: weakref.WeakSet[Worker[object]] = weakref.WeakSet()


class Worker(Generic[OwnerT]):
    """A named daemon thread that runs ``step(owner)`` until stopped or its owner is collected.

    Args:
        name: The thread's name (``flagkit-...``).
        step: One piece of work; returns seconds to wait before the next step,
            :data:`UNTIL_WOKEN`, or ``None`` to end the thread. Must not hold ``owner`` strongly.
        owner: What the thread works for; held weakly (see the module's docstring).
        stopping: The stop event to use (shared with a caller that already has one).
        wake: The wake event to use (likewise).
    """

    def __init__(
        self,
        name: str,
        step: Callable[[OwnerT], float | None],
        owner: OwnerT,
        *,
        stopping: threading.Event | None = None,
        wake: threading.Event | None = None,
    ) -> None:
        self.name = name
        self._step = step
        self._body: Callable[[], float | None] | None = None
        self.stopping = stopping if stopping is not None else threading.Event()
        self.wake_event = wake if wake is not None else threading.Event()
        self._owner = weakref.ref(owner, self._owner_collected)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.failure: str | None = None
        """Why the thread ended on a ``BaseException`` (``Type: message``), or None."""
        self.errors = 0
        """Exceptions raised by steps (each logged; the loop went on)."""
        _WORKERS.add(self)  # type: ignore[arg-type]  # the set is only for the fork hook: any owner type

    @classmethod
    def looping(
        cls,
        name: str,
        body: Callable[[], float | None],
        owner: OwnerT,
        *,
        stopping: threading.Event | None = None,
        wake: threading.Event | None = None,
    ) -> Worker[OwnerT]:
        """A worker whose step is a long loop that watches :attr:`stopping` itself.

        ``body`` is called without the owner, so the owner is never held while it runs (a
        step that lasts the whole run would otherwise keep its owner alive); the owner's
        collection still stops the worker: it sets ``stopping`` and ``wake``.
        """
        worker = cls(name, _never, owner, stopping=stopping, wake=wake)
        worker._body = body
        return worker

    # --- control ------------------------------------------------------------------------

    def start(self) -> bool:
        """Start the thread unless it runs, the worker was stopped or its owner is gone.

        Idempotent; True when a thread was started by this call.
        """
        with self._start_lock:
            if self.stopping.is_set() or self._owner() is None:
                return False
            if self._thread is not None and self._thread.is_alive():
                return False
            thread = self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            thread.start()  # under the lock: stop() never joins a thread not started yet
            return True

    def wake(self) -> None:
        """Cut the current wait short: the next step runs now."""
        self.wake_event.set()

    def signal_stop(self) -> None:
        """Tell the thread to end after its current step; does not wait."""
        self.stopping.set()
        self.wake_event.set()

    def stop(self, timeout: float = 1.0) -> bool:
        """Tell the thread to end and wait for it, at most ``timeout`` seconds.

        Idempotent. True when no thread of this worker is running any more (called from the
        worker's own thread, it returns False: a thread cannot join itself).
        """
        self.signal_stop()
        with self._start_lock:  # a start() in progress has started its thread
            thread = self._thread
        if thread is None:
            return True
        if thread is threading.current_thread():
            return False
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def alive(self) -> bool:
        """Whether this worker's thread is running (in this process)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def started(self) -> bool:
        """Whether a thread was started in this process (it may have ended since)."""
        return self._thread is not None

    @property
    def thread(self) -> threading.Thread | None:
        """The thread started in this process, if any."""
        return self._thread

    # --- the thread ---------------------------------------------------------------------

    def _owner_collected(self, _ref: object) -> None:
        self.signal_stop()  # runs inside garbage collection: set two events, nothing more

    def _run(self) -> None:
        pause, cap = _PAUSES
        stopping, wake = self.stopping, self.wake_event
        try:
            while not stopping.is_set():
                try:
                    wait = self._once()
                except Exception:
                    self.errors += 1
                    logger.exception("flagkit: %s failed; it goes on in %gs", self.name, pause)
                    wait, pause = pause, min(cap, pause * 2)
                else:
                    pause = _PAUSES[0]
                if wait is None:
                    return
                if wait > 0:
                    wake.wait(None if wait == math.inf else wait)
                wake.clear()
        except BaseException as exc:  # SystemExit from user code, an asynchronous exception
            if not stopping.is_set():
                self.failure = f"{type(exc).__name__}: {exc}"[:300]
                logger.critical("flagkit: the thread %s died (%s)", self.name, self.failure)

    def _once(self) -> float | None:
        """One step; None (the end) once the owner is gone. The owner is a local of this
        frame only: between steps the worker holds it weakly."""
        if self._body is not None:
            return self._body() if self._owner() is not None else None
        owner = self._owner()
        return None if owner is None else self._step(owner)

    def _after_fork_in_child(self) -> None:
        """The rule for a fork child: the parent's thread is gone; not started, fresh events."""
        self._start_lock = threading.Lock()
        if self._thread is None:
            return
        self._thread = None
        stopped = self.stopping.is_set()
        self.stopping = threading.Event()
        self.wake_event = threading.Event()
        if stopped:
            self.stopping.set()


def _never(owner: object) -> float | None:
    raise AssertionError("replaced by the body of Worker.looping")


def _after_fork_in_child() -> None:
    for worker in list(_WORKERS):
        worker._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent only on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)
