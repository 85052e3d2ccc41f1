"""Observation of one client's evaluations: hooks, usage counts and exposures.

The client's registration methods (``add_hook``, ``on_exposure``, ``enable_usage``...)
delegate here; :meth:`Observation.build` wires what is registered into the next snapshot
(see :func:`flagkit._client.snapshot.build_snapshot`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .._observe.exposures import ExposureCallback, ExposureTracker
from .._observe.hooks import HookRunner, HookStats, has_stage
from .._observe.usage import UsageRecorder
from .snapshot import Snapshot, build_snapshot

if TYPE_CHECKING:
    from .._engine.compiler import Resolver
    from .layers import GuardStats, Layers

__all__ = ["Observation"]


class _Owner(Protocol):
    """What observation needs of the client (its lifecycle): whether its threads run, and
    republishing its snapshot (a Protocol, so this module imports nothing of the lifecycle)."""

    _launched: bool
    _closed: bool
    _base: Snapshot

    def _publish(self, base: Snapshot) -> None: ...


class Observation:
    """The hooks, usage recorder and exposure tracker of one client.

    Changes happen under ``lock`` (the client's); the caller republishes its snapshot when a
    method says something changed.
    """

    __slots__ = ("exposures", "hook_stats", "hooks", "lock", "track_all", "usage")

    def __init__(self, lock: threading.RLock, *, track_all: bool) -> None:
        self.lock = lock
        self.track_all = track_all
        self.hook_stats = HookStats()
        self.hooks: HookRunner | None = None
        self.usage: UsageRecorder | None = None
        self.exposures: ExposureTracker | None = None

    def build(
        self,
        base: Snapshot,
        layers: Layers,
        launching: Callable[[Mapping[str, Resolver]], dict[str, Resolver]] | None,
    ) -> Snapshot:
        """The snapshot to publish for ``base`` (caller holds the lock)."""
        return build_snapshot(
            base,
            layers=layers,
            hooks=self.hooks,
            hook_stats=self.hook_stats,
            usage=self.usage,
            exposures=self.exposures,
            track_all=self.track_all,
            launching=launching,
        )

    # --- hooks ---------------------------------------------------------------------------

    def add_hook(self, hook: object) -> None:
        """Register ``hook`` (caller holds the lock and republishes)."""
        if not has_stage(hook):
            raise TypeError(
                f"{type(hook).__name__} is not a hook: it needs before, after, error or finally_after"
            )
        current = self.hooks.hooks if self.hooks is not None else ()
        self.hooks = HookRunner((*current, hook), self.hook_stats)

    def remove_hook(self, hook: object) -> bool:
        """Unregister the latest registration of ``hook``; False if it is not registered."""
        hooks = list(self.hooks.hooks) if self.hooks is not None else []
        for i in range(len(hooks) - 1, -1, -1):
            if hooks[i] is hook:
                del hooks[i]
                self.hooks = HookRunner(tuple(hooks), self.hook_stats) if hooks else None
                return True
        return False

    @property
    def hook_list(self) -> tuple[object, ...]:
        runner = self.hooks
        return runner.hooks if runner is not None else ()

    # --- exposures and usage -------------------------------------------------------------

    def add_exposure_callback(
        self,
        owner: _Owner,
        callback: ExposureCallback,
        window: int | None,
        ttl: float | None,
        queue_size: int | None,
        clock: Callable[[], float] | None,
    ) -> None:
        """``Flags.on_exposure``: deliver exposures to ``callback`` too (the options, when given,
        apply to every callback); the first callback creates the tracker."""
        with self.lock:
            tracker = self.exposures
            if tracker is None:
                tracker = ExposureTracker(window or 10_000, ttl, queue_size or 10_000, clock or time.time)
            else:
                tracker.window = window or tracker.window
                tracker.ttl = ttl if ttl is not None else tracker.ttl
                tracker.queue_size = queue_size or tracker.queue_size
                tracker.clock = clock or tracker.clock
            tracker.callbacks = (*tracker.callbacks, callback)
            if self.exposures is None:
                self.exposures = tracker
                if owner._launched and not owner._closed:  # else at first use (Lifecycle._launch)
                    tracker.start()
                owner._publish(owner._base)

    def enable_usage(self, owner: _Owner, interval: float, clock: Callable[[], float] | None) -> None:
        """``Flags.enable_usage``: start counting evaluations (idempotent)."""
        with self.lock:
            if self.usage is not None:
                return
            recorder = UsageRecorder(interval, clock or time.time)
            if owner._launched and not owner._closed:  # else at first use, which publishes again
                recorder.start()  # before publishing: the fast lane needs its ticker (running)
            self.usage = recorder
            owner._publish(owner._base)

    def start(self) -> None:
        """Start the usage and exposure threads (the client's first use in this process)."""
        if self.exposures is not None:
            self.exposures.start()
        if self.usage is not None and not self.usage.running:
            self.usage.start()

    def after_fork(self) -> None:
        """In a fork child: fresh state for the recorders (before a snapshot is built)."""
        if self.exposures is not None:
            self.exposures.after_fork()
        if self.usage is not None:
            self.usage.after_fork()

    def stats(self, guards: Mapping[str, GuardStats]) -> dict[str, Any]:
        """JSON-safe counters of hooks, exposures, usage and ``guards``."""
        exposures = self.exposures
        guard_stats = {}
        for key, guard in list(guards.items()):
            calls, failures = guard.counts()
            guard_stats[key] = {
                "calls": calls,
                "failures": failures,
                "trips": guard.trips,
                "tripped": guard.tripped,
            }
        return {
            "hooks": {"registered": len(self.hook_list), "errors": self.hook_stats.errors},
            "exposures": exposures.stats() if exposures is not None else None,
            "usage": {"enabled": self.usage is not None},
            "guards": guard_stats,
        }
