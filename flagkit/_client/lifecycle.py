"""What happens to a client over time: provider reports become published snapshots, the
first use in a process launches its threads, a fork renews them, and supervision restarts
providers whose thread died.

:class:`Lifecycle` is a base class of :class:`~flagkit.Flags` (these steps coordinate every
collaborator: the supervisor, the layers, observation and the listeners).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from functools import partial
from typing import TYPE_CHECKING, Any

from .._engine.compiler import Resolution, Resolver
from ..flagset import FlagSet
from .snapshot import Snapshot, merge_flagsets

if TYPE_CHECKING:
    from .layers import Layers
    from .listeners import ChangeListener, Dispatcher, ErrorListener, ListenerLanes
    from .observation import Observation
    from .supervisor import Supervisor

__all__ = ["Lifecycle", "reporter_of", "weakly"]

logger = logging.getLogger("flagkit")

_SUPERVISE_EVERY = 0.5
"""Seconds between two checks for dead provider threads from ``context()``/``snapshot()``."""
_LIVE_CLIENTS: weakref.WeakSet[Lifecycle] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_LIVE_CLIENTS):
        # A provider thread may have held the lock at fork time; that thread does not exist
        # in the child, so the inherited lock could stay locked forever. Only the forking
        # thread runs here, so swapping in a fresh lock is safe.
        client._renew_lock()
        client._dispatcher.after_fork()
        client._lanes.after_fork()  # fresh lane state; the lanes start with the child's first use
        client._forked(launch=False)  # the child's threads start on its first use


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent only on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def reporter_of(ref: weakref.ref[Lifecycle]) -> Callable[[int], Callable[[FlagSet | BaseException], None]]:
    """``reporter(index)``: the callback provider ``index`` reports through. It holds the
    client weakly, so a dropped client is collected at once (no cycle through its providers)."""

    def reporter(index: int) -> Callable[[FlagSet | BaseException], None]:
        def report(result: FlagSet | BaseException) -> None:
            client = ref()
            if client is not None and not client._closed:
                client._receive(index, result)

        return report

    return reporter


class Lifecycle:
    """Reports, publishing, launch, fork and supervision of a :class:`~flagkit.Flags`."""

    if TYPE_CHECKING:
        _lock: threading.RLock
        _base: Snapshot
        _snapshot: Snapshot
        _pins: int
        _pin: ContextVar[Snapshot | None]
        _supervisor: Supervisor
        _layers: Layers
        _observation: Observation
        _dispatcher: Dispatcher
        _lanes: ListenerLanes
        _change_listeners: list[ChangeListener]
        _error_listeners: list[ErrorListener]
        _recovery_listeners: list[Callable[[str], object]]
        _closed: bool
        _pid: int
        _launched: bool
        _next_supervision: float

    def _start_lifecycle(self) -> None:
        self._closed = False
        self._pid = os.getpid()
        self._launched = False
        """Whether this process's threads were started (see :meth:`_launch`)."""
        self._next_supervision = 0.0
        _LIVE_CLIENTS.add(self)

    @property
    def _slots(self) -> list[Any]:  # for tests that look at what a provider delivered
        return self._supervisor.slots

    def _renew_lock(self) -> None:
        self._lock = lock = threading.RLock()
        self._supervisor.lock = self._layers.lock = self._observation.lock = lock

    # --- writers ------------------------------------------------------------------------

    def _receive(self, index: int, result: FlagSet | BaseException) -> None:
        supervisor = self._supervisor
        slot = supervisor.slots[index]
        error_message: str | None = None
        with self._lock:
            if isinstance(result, FlagSet):
                if supervisor.delivered(slot, result) and self._recovery_listeners:
                    self._dispatcher.put_recovery(slot.provider.name)  # before the change it makes
                self._base, changed = merge_flagsets(supervisor.sources(), self._base)
                self._publish(self._base)
                supervisor.check_ready()
                if changed and self._change_listeners:
                    # Queued under the lock, so events keep the order of the snapshots;
                    # delivered by the listeners' threads, never on this (the reload) thread.
                    self._lanes.put_change(changed)
            else:
                error_message = supervisor.failed(slot, result)
                self._notify_error(slot.provider.name, result)
        if error_message is not None:
            kept = "keeping the last good flags" if slot.flagset is not None else "no flags from it yet"
            logger.error("flagkit: provider %s failed (%s): %s", slot.provider.name, kept, error_message)

    def _publish(self, base: Snapshot) -> None:
        """Apply override layers and observers on top of ``base`` and swap the snapshot.

        Caller holds the lock.
        """
        self._snapshot = self._observation.build(
            base, self._layers, None if self._launched else self._launching
        )

    def _republish(self) -> None:
        with self._lock:
            self._publish(self._base)

    def _notify_error(self, name: str, error: BaseException) -> None:
        if self._error_listeners:
            self._lanes.put_error(name, error)

    # --- the dispatcher's side (see flagkit._client.listeners) --------------------------

    def _deliver_change(self, keys: frozenset[str]) -> None:
        self._lanes.put_change(keys)  # each listener's own thread calls it

    def _deliver_error(self, name: str, error: BaseException) -> None:
        self._lanes.put_error(name, error)

    def _deliver_recovery(self, name: str) -> None:
        self._lanes.put_recovery(name)

    def _tick(self) -> None:
        if not self._closed and os.getpid() == self._pid:
            self._supervise()

    # --- first use and fork -------------------------------------------------------------

    def _check_fork(self) -> None:
        """Start this process's threads on its first use (see :meth:`_launch`), restart them
        if this process is a fork child (cheap PID check), and every half second look for a
        provider thread that died (see :meth:`_supervise`)."""
        pid = os.getpid()
        if pid == self._pid:
            if not self._launched:
                self._launch()
            elif time.monotonic() >= self._next_supervision:
                self._supervise()
            return
        self._forked(launch=True)

    def _forked(self, *, launch: bool) -> None:
        """In a fork child: forget the parent's threads; start this process's own now
        (``launch``: a first use) or at the first use (Python's fork hook)."""
        pid = os.getpid()
        with self._lock:
            if pid == self._pid:
                return
            self._pid = pid
            self._pins = 0
            self._launched = False
        if self._closed:
            return
        self._observation.after_fork()  # fresh locks before _publish below uses them
        self._supervisor.after_fork()
        if launch:
            self._launch()
        else:
            with self._lock:
                self._publish(self._base)  # the first use in the child starts its threads

    def _launch_or_dispatch(self) -> None:
        """A listener was registered: a use (it asks to hear of changes), so the threads
        start if they have not, the dispatcher among them."""
        if self._launched and os.getpid() == self._pid:
            self._dispatcher.ensure_started()
        else:
            self._launch()

    def _launching(self, table: Mapping[str, Resolver]) -> dict[str, Resolver]:
        """``table`` with each resolver starting the threads first (see :meth:`_launch`).

        Published until the first use in this process; the snapshot published then holds
        the resolvers themselves, so evaluation costs nothing more afterwards.
        """
        ref = weakref.ref(self)
        return {key: partial(_first_use, ref, resolve) for key, resolve in table.items()}

    def _launch(self) -> None:
        """Start the client's and its providers' threads in this process: its first use.

        Nothing starts before (``Flags()`` only reads what a provider reads at once), so a
        pre-fork server's master, which creates the client and never uses it, forks with no
        flagkit thread running: a child never inherits one caught holding a lock.
        """
        if os.getpid() != self._pid:  # a fork child whose fork ran no Python hook (uWSGI)
            self._forked(launch=True)
            return
        with self._lock:
            if self._launched or self._closed:
                return
            self._launched = True
            self._next_supervision = time.monotonic() + _SUPERVISE_EVERY  # just started
        self._supervisor.launch()
        self._observation.start()
        if self._change_listeners or self._error_listeners or self._recovery_listeners:
            self._dispatcher.ensure_started()
            self._lanes.start()
        with self._lock:
            self._publish(self._base)  # the plain resolvers from now on

    def _shut_down(self) -> None:
        """``Flags.close()``: stop the providers', observers' and listeners' threads."""
        if self._closed:
            return
        self._closed = True
        self._supervisor.stop()
        observation = self._observation
        if observation.exposures is not None:
            observation.exposures.close()
        if observation.usage is not None:
            observation.usage.stop()
            with self._lock:  # no thread folds the tallies now: count the long way (never grows)
                self._publish(self._base)
        deadline = time.monotonic() + 1.0
        self._dispatcher.close(1.0)  # hand what is queued to the lanes (bounded), then end the thread
        self._lanes.close(max(0.0, deadline - time.monotonic()))  # deliver it, in 1 s in all
        _LIVE_CLIENTS.discard(self)

    # --- supervision --------------------------------------------------------------------

    def _supervise(self) -> None:
        """Report and restart every provider whose thread died."""
        self._next_supervision = time.monotonic() + _SUPERVISE_EVERY
        self._restart(self._find_dead())

    def _find_dead(self) -> list[int]:
        if self._closed:
            return []
        return self._supervisor.find_dead(self._notify_error)

    def _restart(self, indexes: list[int]) -> None:
        self._supervisor.restart(indexes, lambda: self._closed)


def _first_use(
    ref: weakref.ref[Lifecycle], resolve: Resolver, ctx: Mapping[str, Any], table: Mapping[str, Any]
) -> Resolution:
    """A resolver published until the client's first use in this process (see ``_launching``)."""
    client = ref()
    if client is not None:
        client._launch()
    return resolve(ctx, table)


def weakly(owner: Lifecycle, method: Callable[..., None]) -> Callable[..., None]:
    """``method`` of ``owner`` called through a weak reference (no cycle keeps a dropped client)."""
    ref = weakref.ref(owner)

    def call(*args: Any) -> None:
        client = ref()
        if client is not None:
            method(client, *args)

    return call
