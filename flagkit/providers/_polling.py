"""What the networked providers (HttpProvider, RedisProvider) share on top of the thread
lifecycle: serving the last good flags across a restart, refresh, retry backoff with jitter
and jittered poll intervals.
"""

from __future__ import annotations

import random

from ..flagset import FlagSet
from ._runner import RunT, ThreadedProvider

__all__ = ["NetworkProvider"]

_JITTER = random.SystemRandom()
"""Jitter from the OS: it never touches the app's global random state (nor depends on its seed),
and forked workers do not share a sequence."""


class NetworkProvider(ThreadedProvider[RunT]):
    """A threaded provider that polls or listens to a remote source and keeps its last good flags.

    Subclasses set ``backoff`` (``(first, max)`` seconds) and keep ``_good`` (the flags
    served) and ``_healthy`` (whether the last check succeeded).
    """

    backoff: tuple[float, float]
    _good: FlagSet | None
    _healthy: bool

    def refresh(self) -> None:
        """Ask the thread to check the source now instead of at the next poll."""
        run = self._run_state
        if run is not None:
            run.wake.set()

    def _on_start(self, run: RunT) -> None:
        if self._good is not None:  # started again: serve what we had while reconnecting
            self._healthy = True
            run.report(self._good)

    @staticmethod
    def _wait(run: RunT, seconds: float) -> bool:
        """Sleep until the next round (``stop()`` or ``refresh()`` cut it short); True when stopping."""
        run.wake.wait(seconds)
        run.wake.clear()
        return run.stopping.is_set()

    @staticmethod
    def _jittered(seconds: float) -> float:
        """``seconds`` ±10 %: a fleet of workers spreads its polls out."""
        return seconds * _JITTER.uniform(0.9, 1.1)

    def _retry_delay(self, failures: int) -> float:
        """The pause after ``failures`` failures in a row: ``backoff[0]`` doubling up to
        ``backoff[1]``, with "equal jitter" (between half and all of it)."""
        first, cap = self.backoff
        delay = min(cap, first * 2.0 ** min(max(failures, 1) - 1, 30))
        return delay * _JITTER.uniform(0.5, 1.0)
