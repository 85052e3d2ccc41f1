"""The provider supervisor: one slot per provider, what it delivered, its health.

It records each provider's reports (flags or an error), answers ``Flags.status()``
(:class:`ProviderStatus`) and readiness, finds providers whose thread died and restarts
them. The client owns the lifecycle around it (first-use launch, fork; see
:mod:`flagkit._client.lifecycle`) and turns its records into snapshots and listener events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import SourceError
from ..flagset import FlagSet
from ..providers._runner import ThreadedProvider
from ..providers.base import Provider

__all__ = ["ProviderSlot", "ProviderStatus", "Supervisor"]

logger = logging.getLogger("flagkit")
State = Literal["not_ready", "ready", "stale", "error"]
Report = Callable[[FlagSet | BaseException], None]


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """Health of one provider, as ``Flags.status()`` reports it.

    Attributes:
        name: The provider's name.
        state: ``ready`` (serving its latest input), ``stale`` (serving last good flags after
            an error), ``error`` (never loaded, so it contributes nothing; or its thread died:
            ``last_error`` says why, the client restarts it and its last good flags are still
            served) or ``not_ready`` (still loading).
        flags: Number of flags it contributes.
        version: Content hash (or Redis version label) of the document it serves.
        last_success: Unix time of the last load that changed what it serves (a new
            document, or the good one again after an error).
        last_error: Message of the most recent error, if the latest attempt failed.
        last_error_time: Unix time of that error.
        error_count: Errors since start.
        restarts: How often the client restarted it after its thread died.
        document_version: The ``version`` field of the document it serves, if any.
        fresh_at: Unix time of its last successful check of the source: a load, or a check
            that found the flags it serves current (an HTTP 304 or unchanged body, an
            unchanged file, an unchanged Redis version). A polling provider refreshes it every
            interval while the source answers, whether or not anything changed, so
            ``now - fresh_at`` is how old the evidence is that it serves the source's latest
            flags. Providers that never re-check (a dict, the environment, a file with
            ``watch=False``) keep their load time. A disk cache served because the source
            cannot be reached is no check: until one succeeds, ``fresh_at`` is when the cache
            was written.
    """

    name: str
    state: State
    flags: int = 0
    version: str | None = None
    last_success: float | None = None
    last_error: str | None = None
    last_error_time: float | None = None
    error_count: int = 0
    restarts: int = 0
    document_version: int | None = None
    fresh_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields, e.g. for a health endpoint."""
        return {slot: getattr(self, slot) for slot in self.__slots__}


class ProviderSlot:
    """One provider and what it last reported."""

    __slots__ = (
        "dead",
        "error",
        "error_count",
        "error_time",
        "flagset",
        "last_success",
        "logged",
        "provider",
        "restarts",
    )

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.flagset: FlagSet | None = None
        self.error: BaseException | None = None
        self.error_time: float | None = None
        self.error_count = 0
        self.last_success: float | None = None
        self.logged: str | None = None
        self.dead = False
        """Its thread died; cleared by the next report of the restarted provider."""
        self.restarts = 0

    def status(self, name: str) -> ProviderStatus:
        """This slot as ``Flags.status()`` reports it, under ``name``."""
        state: State
        if self.dead:
            state = "error"
        elif self.flagset is not None:
            state = "stale" if self.error is not None else "ready"
        else:
            state = "error" if self.error is not None else "not_ready"
        flagset = self.flagset
        return ProviderStatus(
            name=name,
            state=state,
            flags=len(flagset.flags) if flagset is not None else 0,
            version=flagset.version if flagset is not None else None,
            last_success=self.last_success,
            last_error=str(self.error) if self.error is not None else None,
            last_error_time=self.error_time,
            error_count=self.error_count,
            restarts=self.restarts,
            document_version=flagset.document_version if flagset is not None else None,
            fresh_at=self.fresh_at(),
        )

    def fresh_at(self) -> float | None:
        """The provider's last successful check of its source when it records one, else the
        slot's last load. Not the later of the two: a load is no check when it is a cache served
        because the source cannot be reached (the provider then reports the cache's age)."""
        if self.flagset is None:
            return None
        checked = self.provider.fresh_at
        return checked if checked is not None else self.last_success


class Supervisor:
    """The slots of one client's providers (in precedence order) and their readiness.

    ``lock`` is the client's (replaced, with the client's, in a fork child); ``reporter(i)``
    makes the callback provider ``i`` reports through (it holds the client weakly).
    """

    __slots__ = ("lock", "ready", "reporter", "slots")

    def __init__(
        self, providers: tuple[Provider, ...], lock: threading.RLock, reporter: Callable[[int], Report]
    ) -> None:
        self.lock = lock
        self.reporter = reporter
        self.slots = [ProviderSlot(p) for p in providers]
        self.ready = threading.Event()
        """Set once every provider has delivered flags once."""
        if not providers:
            self.ready.set()

    @property
    def providers(self) -> tuple[Provider, ...]:
        return tuple(slot.provider for slot in self.slots)

    def sources(self) -> list[tuple[str, FlagSet | None]]:
        """``(provider name, flag set or None)`` in precedence order, for the merge."""
        return [(slot.provider.name, slot.flagset) for slot in self.slots]

    def flagsets(self) -> list[FlagSet]:
        """The flag sets delivered, in precedence order (e.g. for ``Flags.explain``)."""
        return [slot.flagset for slot in self.slots if slot.flagset is not None]

    async def wait_ready_async(self, timeout: float | None, closed: Callable[[], bool]) -> bool:
        """``Flags.wait_ready_async``: wait for :attr:`ready` in short waits on a worker thread,
        so a cancelled or closed waiter never pins a thread for long."""
        ready = self.ready
        if ready.is_set():
            return True
        import asyncio

        step = 0.1 if timeout is None else min(timeout, 0.1)
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while True:
            if await asyncio.to_thread(ready.wait, step):
                return True
            if closed():
                return ready.is_set()
            if deadline is not None:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    return False
                step = min(step, left)

    # --- starting and stopping ---------------------------------------------------------

    def start(self, owner: object) -> None:
        """Start every provider: what it reads at once is read now, its threads at launch.
        A threaded provider is tied to ``owner`` (the client) weakly: dropped without
        ``close()``, the client takes the provider's threads with it."""
        for index, slot in enumerate(self.slots):
            if isinstance(slot.provider, ThreadedProvider):
                slot.provider.owned_by(owner)
                slot.provider.start(self.reporter(index), defer=True)  # threads: at first use
            else:
                slot.provider.start(self.reporter(index))

    def launch(self) -> None:
        """Start the providers' threads in this process (the client's first use)."""
        for slot in list(self.slots):
            try:
                slot.provider.launch()
            except Exception:
                logger.exception("flagkit: provider %s failed to start", slot.provider.name)

    def after_fork(self) -> None:
        """In a fork child: each provider forgets the parent's threads."""
        for index, slot in enumerate(list(self.slots)):
            try:
                slot.provider.after_fork(self.reporter(index))
            except Exception:
                logger.exception("flagkit: provider %s failed to restart after fork", slot.provider.name)

    def stop(self) -> None:
        """Stop every provider's threads."""
        for slot in self.slots:
            try:
                slot.provider.stop()
            except Exception:
                logger.exception("flagkit: provider %s failed to stop", slot.provider.name)

    # --- reports (caller holds the lock) -----------------------------------------------

    def delivered(self, slot: ProviderSlot, flagset: FlagSet) -> bool:
        """Record good flags; True when the provider was failing (it recovers)."""
        recovered = slot.error is not None or slot.dead
        slot.dead = False  # its restarted run delivers: status() says so at once
        slot.flagset = flagset
        slot.error = None
        slot.logged = None
        slot.last_success = time.time()
        return recovered

    def check_ready(self) -> None:
        """Set :attr:`ready` once every provider has delivered (after the snapshot is published)."""
        if all(s.flagset is not None for s in self.slots):
            self.ready.set()

    def failed(self, slot: ProviderSlot, error: BaseException) -> str | None:
        """Record an error; its message when it is not the one logged last (log it)."""
        slot.error = error
        slot.error_time = time.time()
        slot.error_count += 1
        message = str(error)
        if slot.logged == message:
            return None
        slot.logged = message
        return message

    # --- health ------------------------------------------------------------------------

    def status(self) -> dict[str, ProviderStatus]:
        """Each provider's :class:`ProviderStatus`, keyed by a unique name."""
        out: dict[str, ProviderStatus] = {}
        with self.lock:
            for slot in self.slots:
                name, n = slot.provider.name, 1
                while name in out:  # two providers with one name: "file:x", "file:x#2"
                    n += 1
                    name = f"{slot.provider.name}#{n}"
                out[name] = slot.status(name)
        return out

    def find_dead(self, notify: Callable[[str, BaseException], None]) -> list[int]:
        """Record each provider whose thread died as failed (``notify``: the error listeners);
        return their indexes."""
        dead: list[int] = []
        for index, slot in enumerate(self.slots):
            try:
                reason = slot.provider.failure()
            except Exception as exc:  # a custom provider's bug: treat as alive, say so
                logger.error("flagkit: provider %s failed to report its health: %r", slot.provider.name, exc)
                continue
            if reason is None or slot.dead:
                continue
            error = SourceError(f"its thread died ({reason}); restarting it", slot.provider.name)
            with self.lock:
                if slot.dead:  # another thread (a health check, the dispatcher) found it first
                    continue
                slot.dead = True
                slot.error = error
                slot.error_time = time.time()
                slot.error_count += 1
                slot.logged = str(error)
                slot.restarts += 1
            logger.error("flagkit: %s", error)
            notify(slot.provider.name, error)
            dead.append(index)
        return dead

    def restart(self, indexes: list[int], closed: Callable[[], bool]) -> None:
        """Restart the providers at ``indexes`` (stop, then start with a fresh reporter)."""
        for index in indexes:
            slot = self.slots[index]
            if closed():
                return
            try:
                slot.provider.stop()
                slot.provider.start(self.reporter(index))
            except Exception:
                logger.exception("flagkit: provider %s failed to restart", slot.provider.name)
            with self.lock:
                slot.dead = False  # a thread that dies again is reported (and restarted) again
