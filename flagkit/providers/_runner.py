"""The thread lifecycle shared by the providers that work in a background thread.

A *run* lasts from ``start`` to ``stop``: it owns its thread's stop and wake events and the
reporter it was started with. The thread receives its run as an argument and never re-reads
it from the provider, so a restart (a new run) can never revive a thread that outlived
``stop()``, and a stopped run reports nothing (a new one may be running).

No exception ends a run's thread: a failure inside the loop is reported (the client keeps the
last good flags, state ``stale``) and the loop starts over after a short, growing pause. Only
a ``BaseException`` that is not an ``Exception`` (``SystemExit`` raised by user code, an
asynchronous exception) can end the thread; :meth:`ThreadedProvider.failure` then says why,
and the client restarts the provider.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from functools import partial
from typing import Generic, TypeVar

from .._workers import Worker
from ..errors import ConfigError, SourceError
from ..flagset import FlagSet
from .base import Provider, Report

__all__ = ["Run", "ThreadedProvider", "describe", "load_failure", "rollback"]

logger = logging.getLogger("flagkit")

_WAIT_SLICE = 0.05
"""How often a new thread waiting for the previous one checks its own stop event."""

_RESTART_DELAYS = (0.05, 5.0)
"""First and longest pause before a loop that raised starts over (doubling in between)."""

_MAX_DETAIL = 300
"""Longest exception text quoted in a message (an OverflowError can quote 4,300 digits)."""


def describe(exc: BaseException) -> str:
    """``Type: message`` for an unexpected exception, shortened to a readable length."""
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not break the report of it
        text = "<unprintable>"
    if len(text) > _MAX_DETAIL:
        text = text[:_MAX_DETAIL] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def rollback(current: FlagSet | None, new: FlagSet, source: str) -> SourceError | None:
    """The error for ``new`` being older than ``current`` (both with a ``version``), or None.

    Rollback protection is opt-in by presence: a document without ``version``, or a first
    document, is always accepted.
    """
    old = current.document_version if current is not None else None
    version = new.document_version
    if old is None or version is None or version >= old:
        return None
    return SourceError(
        f"refused version {version}: older than version {old}, which is being served "
        "(a stale copy?); allow_rollback=True accepts older versions",
        source,
    )


def load_failure(exc: Exception, source: str) -> ConfigError:
    """The ``ConfigError`` for a document that made the loader fail.

    The loader raises ``ConfigError`` for every bad document it knows about; anything else
    (a ``RecursionError``, ``MemoryError``, a bug) is still about this document, so it is
    reported the same way and the provider keeps its last good flags.
    """
    if isinstance(exc, ConfigError):
        return exc
    return ConfigError(f"the document could not be loaded ({describe(exc)})", source)


class Run:
    """One run of a provider's thread (``start`` to ``stop``): its own events and reporter.

    The thread receives its run as an argument and never re-reads it from the provider, so a
    restart (a new run) can never revive a thread that outlived ``stop()``.
    """

    __slots__ = ("failure", "report", "stopping", "thread", "wake", "worker")

    def __init__(self, report: Report) -> None:
        self.report = report
        self.stopping = threading.Event()
        self.wake = threading.Event()
        """Set by ``stop()`` (and whatever else should cut the thread's wait short)."""
        self.worker: Worker[object] | None = None
        """Runs the thread (see :mod:`flagkit._workers`); shares these two events."""
        self.thread: threading.Thread | None = None
        self.failure: str | None = None
        """Why the thread ended before ``stop()``, if it did."""


RunT = TypeVar("RunT", bound=Run)


class ThreadedProvider(Provider, Generic[RunT]):
    """A provider whose work runs in one daemon thread ``flagkit-<kind>-<label>`` per run.

    Subclasses fill in the hooks: :meth:`_new_run`, :meth:`_thread_label`, :meth:`_loop` and
    :meth:`_crash_subject`, and where needed :meth:`_on_start`, :meth:`_abort`,
    :meth:`_forget_after_fork` and :meth:`_threaded`.
    """

    _kind = ""
    """The ``<kind>`` in the thread name."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self._stopped = False
        self._run_state: RunT | None = None
        self._pending: tuple[RunT, threading.Thread | None] | None = None
        """A run whose thread :meth:`launch` starts (``start(..., defer=True)``, a fork child)."""
        self._owner: weakref.ref[object] | None = None

    def owned_by(self, owner: object) -> None:
        """Tie this provider's threads to ``owner`` (its client), held weakly: once ``owner``
        is garbage-collected (a client dropped without ``close()``) the run stops, its thread
        ends and the watcher it started is closed. Untied, the thread lives until :meth:`stop`.
        """
        self._owner = weakref.ref(owner)

    # --- hooks ------------------------------------------------------------------------

    def _new_run(self, report: Report) -> RunT:
        raise NotImplementedError

    def _thread_label(self) -> str:
        raise NotImplementedError

    def _loop(self, run: RunT) -> None:
        """The thread's work, once the previous run's thread has ended."""
        raise NotImplementedError

    def _crash_subject(self) -> str:
        """Names the loop in log messages ("the <subject> failed")."""
        raise NotImplementedError

    def _on_start(self, run: RunT) -> None:
        """Called by :meth:`start` with the new run, before its thread starts."""

    def _abort(self, run: RunT) -> None:
        """Called when ``run`` ends, after its events are set: interrupt what it waits on."""

    def _forget_after_fork(self) -> None:
        """Called in a fork child before the new run: drop what the parent's threads held."""

    def _forget_dead_run(self) -> None:
        """Called by :meth:`start` when the previous run's thread died: it may have died
        holding a lock, which nothing will release; replace such locks."""

    def _threaded(self) -> bool:
        """Whether a run has a thread at all."""
        return True

    def _redact(self, text: str) -> str:
        """Remove secrets from a message about this provider (HttpProvider has some)."""
        return text

    def _scrub(self, error: BaseException) -> BaseException:
        """The error as it may be shown to the client (HttpProvider removes its secrets)."""
        return error

    def _after_fault(self, run: RunT) -> None:
        """Called after the loop raised, before it starts over: forget what it was doing so
        the next round re-reads (and re-reports) the source."""

    def _confirm(self, run: RunT) -> None:
        """Record that a check just confirmed the served flags are the source's current ones
        (a load, a 304, an unchanged content hash or version label): ``fresh_at``."""
        if not run.stopping.is_set():
            self.fresh_at = time.time()

    # --- lifecycle --------------------------------------------------------------------

    def start(self, report: Report, *, defer: bool = False) -> None:
        """End the previous run (if any) and start a new one.

        With ``defer=True`` only the synchronous part runs (a FileProvider's first read);
        the thread waits for :meth:`launch`. The client defers, so that no thread of its
        runs before the process that uses it does (a pre-fork server's master).
        """
        previous = self._run_state
        if previous is not None:  # started again (or twice): end the previous run
            self._end(previous)
            if previous.failure is not None:
                self._forget_dead_run()
        self._pending = None
        run = self._run_state = self._new_run(report)
        self._stopped = False
        self._on_start(run)
        if self._threaded():
            previous_thread = previous.thread if previous is not None else None
            if defer:
                self._pending = (run, previous_thread)
            else:
                self._start_thread(run, previous_thread)

    def launch(self) -> None:
        """Start the thread that :meth:`start` deferred (or a fork child's); idempotent."""
        pending, self._pending = self._pending, None
        if pending is None or self._stopped:
            return
        run, previous = pending
        if run is self._run_state and not run.stopping.is_set():
            self._start_thread(run, previous)

    def stop(self) -> None:
        """End the run; idempotent, waits about a second at most for its thread."""
        self._stopped = True
        self._pending = None
        run = self._run_state
        if run is None:
            return
        self._end(run)
        thread = run.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)

    def after_fork(self, report: Report) -> None:
        """Prepare a new run in a fork child (unless stopped); the parent's threads are gone.

        Its thread starts at :meth:`launch`, which the client calls on its first use in the
        child (nothing starts while the fork is still in progress).
        """
        self._forget_after_fork()
        self._pending = None
        run = self._run_state = self._new_run(report)
        if self._stopped:
            run.stopping.set()
        elif self._threaded():
            self._pending = (run, None)  # the parent's threads do not exist here

    def failure(self) -> str | None:
        """Why the current run's thread ended although the provider was not stopped, or None."""
        run = self._run_state
        if run is None or self._stopped or run.stopping.is_set() or not self._threaded():
            return None
        thread = run.thread
        if thread is None or thread.is_alive():
            return None
        return run.failure or "the thread ended"

    def _end(self, run: RunT) -> None:
        run.stopping.set()
        run.wake.set()
        self._abort(run)

    # --- the thread -------------------------------------------------------------------

    def _start_thread(self, run: RunT, previous: threading.Thread | None) -> None:
        owner = self._owner() if self._owner is not None else None
        worker: Worker[object] = Worker.looping(
            f"flagkit-{self._kind}-{self._thread_label()}",
            partial(ThreadedProvider._step, self, run, previous),
            self if owner is None else owner,
            stopping=run.stopping,
            wake=run.wake,
        )
        run.worker = worker
        worker.start()
        # Published once started: a concurrent stop() (join) or failure() (is_alive) must
        # never see a thread that has not started yet.
        run.thread = worker.thread

    def _step(self, run: RunT, previous: threading.Thread | None) -> None:
        """The worker's one step: the whole run (the loop starts over by itself)."""
        self._run(run, previous)
        if run.stopping.is_set() and not self._stopped and run is self._run_state:
            self._abort(run)  # the owner was collected: close what the run opened (a watcher)

    def _run(self, run: RunT, previous: threading.Thread | None) -> None:
        try:
            # A previous run that outlived stop()'s join (a slow read or fetch) is waited
            # for, so two runs never work at once. Its own stop event is set, so it ends
            # after the step it is in.
            while previous is not None and previous.is_alive():
                if run.stopping.is_set():
                    return
                previous.join(_WAIT_SLICE)
            self._supervise(run)
        except BaseException as exc:  # SystemExit from user code, an asynchronous exception
            if not run.stopping.is_set():
                run.failure = self._redact(describe(exc))
                subject = self._crash_subject()
                message = "flagkit: the thread of the %s died (%s); the client restarts it"
                logger.critical(message, subject, run.failure)

    def _supervise(self, run: RunT) -> None:
        """Run the loop; when it raises, report it and start it over (never give up)."""
        delay, cap = _RESTART_DELAYS
        while not run.stopping.is_set():
            try:
                try:
                    self._loop(run)
                    return
                except Exception as exc:
                    if run.stopping.is_set():
                        return
                    self._fault(run, exc, delay)
                if run.stopping.wait(delay):
                    return
                delay = min(cap, delay * 2)
            except Exception:  # raised while reporting or pausing (a second fault): go on
                continue

    def _fault(self, run: RunT, exc: Exception, delay: float) -> None:
        detail = self._redact(describe(exc))
        logger.error(
            "flagkit: the %s failed (%s); keeping the last good flags, it starts over in %gs",
            self._crash_subject(),
            detail,
            delay,
        )
        self._after_fault(run)
        ThreadedProvider._emit(self, run, SourceError(f"internal error: {detail}", self.name))

    def _emit(self, run: RunT, result: FlagSet | BaseException) -> None:
        """Report ``result`` unless ``run`` was stopped (a new run may be running).

        A reporter that raises (it is the client's; it should not) is logged: the loop goes on.
        """
        if run.stopping.is_set():
            return
        try:
            run.report(result if isinstance(result, FlagSet) else self._scrub(result))
        except Exception as exc:
            detail = self._redact(describe(exc))
            logger.error("flagkit: reporting to the client failed for %s: %s", self.name, detail)
