"""Exposure (impression) events: which user was served which variant of a tracked flag.

For experiment analysis, a tracked evaluation (``track: true`` on the flag, or
``Flags(..., track_all=True)``) yields an :class:`Exposure`. The first exposure of each
(flag, variant, targeting key) inside a bounded LRU window (and, optionally, a TTL) is queued;
repeats are counted as deduplicated. A single daemon thread delivers the queue to the
callbacks registered with ``Flags.on_exposure``, so the request never waits on them. The queue
is bounded: when it is full the exposure is dropped and counted, never blocking, and the triple
is not remembered, so its next evaluation reports it once there is room. ``close()``
and process exit deliver what is queued; a fork child starts its own thread with an empty queue.

The client calls the recorder :meth:`ExposureTracker.recorder` made for each tracked flag with
what the caller got, after its type check, so a failed evaluation (reason ``ERROR``: the
caller's default has another type than the flag's value, or the context is not a mapping) is
no exposure (its snapshot's resolvers also record evaluations as a prerequisite or by
``all_values``/``bootstrap``). For a repeat the recorder does one dict lookup and an LRU touch;
the clock is read only for a new exposure (and for every one when a TTL is set).
"""

from __future__ import annotations

import atexit
import copy
import logging
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .._engine.compiler import DEFAULT_BUCKET_ATTRIBUTES, CompiledFlag, Resolution, attribute_getter
from .._engine.schemes import input_getter, parse_template
from .._workers import UNTIL_WOKEN, Worker
from ..document.schema import BucketInput
from ..evaluation import CODE_DEFAULT, Reason

__all__ = ["Exposure", "ExposureCallback", "ExposureTracker", "Record"]

logger = logging.getLogger("flagkit")


@dataclass(frozen=True, slots=True)
class Exposure:
    """One user's first evaluation of a tracked flag's variant (inside the dedup window).

    Attributes:
        key: The flag key.
        variant: The variant served (``None`` when the flag served the caller's default,
            ``code_default``).
        value: Its value (``None`` for the caller's default: only the calling code knows it).
        reason: Why it was served.
        targeting_key: The flag's bucketing attribute (``bucket_by``, else ``targeting_key``,
            else ``user_id``) from the context, or ``None`` for an anonymous evaluation.
        timestamp: Unix time of the evaluation.
    """

    key: str
    variant: str | None
    value: Any
    reason: Reason
    targeting_key: Any
    timestamp: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the reason as a string; a container value as a fresh copy)."""
        return {
            "key": self.key,
            "variant": self.variant,
            "value": copy.deepcopy(self.value) if isinstance(self.value, dict | list) else self.value,
            "reason": str(self.reason),
            "targeting_key": self.targeting_key,
            "timestamp": self.timestamp,
        }


ExposureCallback = Callable[[Exposure], None]

Record = Callable[[Mapping[str, Any], Resolution], None]
"""A tracked flag's recorder: ``record(context, resolution)`` after the caller got it."""

_ERROR = Reason.ERROR


def _default_unit(ctx: Mapping[str, Any]) -> Any:
    first, second = DEFAULT_BUCKET_ATTRIBUTES
    value = ctx.get(first)
    return ctx.get(second) if value is None else value


_LIVE: weakref.WeakSet[ExposureTracker] = weakref.WeakSet()


class ExposureTracker:
    """Deduplicates, queues and delivers the exposures of one client.

    Args:
        window: Most (flag, variant, targeting key) triples remembered for deduplication.
        ttl: Seconds after which a remembered triple is reported again (``None``: never).
        queue_size: Most exposures waiting for delivery; more are dropped and counted.
        clock: Wall-clock time source (for ``timestamp`` and the TTL); injectable for tests.
    """

    def __init__(
        self,
        window: int = 10_000,
        ttl: float | None = None,
        queue_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if window < 1 or queue_size < 1:
            raise ValueError("window and queue_size must be at least 1")
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive (or None)")
        self.window = window
        self.ttl = ttl
        self.queue_size = queue_size
        self.clock = clock
        self.callbacks: tuple[ExposureCallback, ...] = ()
        self.delivered = 0
        self.dropped = 0
        self.deduplicated = 0
        self.callback_errors = 0
        self.lost_at_exit = 0
        self._lock = threading.Lock()  # the dedup test and insert of a new triple; delivery accounting
        self._inflight = False
        self._abandoned = False
        self._seen: OrderedDict[tuple[str, str | None, Any], float] = OrderedDict()
        self._queue: deque[Exposure] = deque()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._closed = False
        self._logged: set[int] = set()
        self._worker: Worker[ExposureTracker] | None = None
        _LIVE.add(self)

    # --- hot path (tracked flags only) --------------------------------------------------

    def recorder(self, key: str, flag: CompiledFlag) -> Record:
        """The recorder of ``flag``'s exposures (called at publish time, not per evaluation).

        ``record(context, resolution)`` ignores a resolution with reason ``ERROR``.
        """
        definition = flag.definition
        attribute = definition.bucket_by if definition is not None else None
        unit: Callable[[Mapping[str, Any]], Any]
        if attribute is None:
            unit = _default_unit
        elif isinstance(attribute, BucketInput):  # the explicit input is who is bucketed
            unit = input_getter(parse_template(attribute.input, key), attribute_getter)
        else:
            unit = attribute_getter(attribute)
        seen = self._seen
        touch = seen.move_to_end
        record = self._record

        def expose(ctx: Mapping[str, Any], res: Resolution) -> None:
            if res[2] is _ERROR:  # the caller got its own default: nothing was served
                return
            try:
                who = unit(ctx)
            except Exception:  # a context that is not a mapping, and a flag that never read it
                who = None
            try:
                ident = (key, res[1], who)
                if ident in seen and self.ttl is None:
                    touch(ident)
                    self.deduplicated += 1
                    return
            except (TypeError, KeyError):  # unhashable targeting key, or evicted meanwhile
                pass
            record(key, res, who)

        return expose

    def _record(self, key: str, res: Resolution, who: Any) -> None:
        try:
            hash(who)
        except TypeError:
            who = repr(who)
        ident = (key, res[1], who)
        seen = self._seen
        with self._lock:  # a new triple: the "already seen" test and the insert are one step
            now = self.clock()
            first_seen = seen.get(ident)
            if first_seen is not None and (self.ttl is None or now - first_seen < self.ttl):
                seen.move_to_end(ident)
                self.deduplicated += 1
                return
            if len(self._queue) >= self.queue_size or self._closed:
                # Not remembered: the next evaluation of this triple is reported once there is room.
                self.dropped += 1
                return
            seen[ident] = now
            seen.move_to_end(ident)
            while len(seen) > self.window:
                seen.popitem(last=False)
            value = None if res[0] is CODE_DEFAULT else res[0]
            if isinstance(value, dict | list):  # the caller's own copy: it may change it
                value = copy.deepcopy(value)
            self._queue.append(Exposure(key, res[1], value, res[2], who, now))
        if not self._wake.is_set():
            self._wake.set()

    # --- delivery -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery thread (idempotent): a :class:`~flagkit._workers.Worker` owned
        weakly by this tracker, so a tracker (a client) dropped without ``close()`` ends it."""
        worker = self._worker
        if worker is not None and worker.alive:
            return
        self._closed = False
        if worker is None or worker.stopping.is_set():
            worker = self._worker = Worker("flagkit-exposures", ExposureTracker._step, self, wake=self._wake)
        worker.start()

    def _step(self) -> float | None:
        with self._idle:
            self._busy = True
        try:
            self._drain()
        finally:
            with self._idle:
                self._busy = False
                self._idle.notify_all()
        if self._closed and not self._queue:
            return None  # closed and delivered: the thread ends
        return UNTIL_WOKEN

    def _drain(self) -> None:
        queue = self._queue
        lock = self._lock
        while True:
            with lock:
                if not queue or self._abandoned:
                    return
                exposure = queue.popleft()
                self._inflight = True
            callbacks = self.callbacks
            mutable = len(callbacks) > 1 and isinstance(exposure.value, dict | list)
            for callback in callbacks:
                try:
                    # an object value: each callback its own copy (one may change it)
                    callback(replace(exposure, value=copy.deepcopy(exposure.value)) if mutable else exposure)
                except Exception:
                    self.callback_errors += 1
                    if id(callback) not in self._logged:
                        self._logged.add(id(callback))
                        logger.exception(
                            "flagkit: exposure callback %s failed (later failures are counted, not logged)",
                            getattr(callback, "__qualname__", type(callback).__name__),
                        )
            with lock:
                self._inflight = False
                if not self._abandoned:  # given up on at exit: counted as lost already
                    self.delivered += 1

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until every queued exposure has been delivered; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        worker = self._worker
        if worker is None or not worker.alive:
            self._drain()  # no thread (closed, or never started): deliver here
            return True
        with self._idle:
            while self._queue or self._busy:
                self._wake.set()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(0.05 if remaining is None else min(remaining, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (for at most ``timeout`` seconds in all), then stop the thread
        (idempotent). Later exposures are dropped."""
        deadline = time.monotonic() + timeout
        with self._lock:  # first stop taking exposures: under load the flush would never end
            self._closed = True
        self.flush(timeout)
        self._wake.set()
        worker, self._worker = self._worker, None
        if worker is not None:  # it ends by itself once the queue is delivered
            worker.stop(max(0.0, deadline - time.monotonic()))
        _LIVE.discard(self)

    def abandon(self) -> int:
        """Give up on what is still queued (at exit, once the bound has passed): count it in
        ``lost_at_exit`` (with the exposure being delivered, if any) and return that number."""
        with self._lock:
            lost = len(self._queue) + (1 if self._inflight else 0)
            self._abandoned = True
            self._queue.clear()
            self.lost_at_exit += lost
        return lost

    def after_fork(self) -> None:
        """In a fork child: the parent delivers its own queue; the thread is not running here
        (see :mod:`flagkit._workers`): the client starts a fresh one at its first use."""
        self._queue.clear()
        self._lock = threading.Lock()
        self._inflight = False
        self._abandoned = False
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._worker = None

    def stats(self) -> dict[str, int]:
        """JSON-safe counters."""
        return {
            "callbacks": len(self.callbacks),
            "delivered": self.delivered,
            "dropped": self.dropped,
            "deduplicated": self.deduplicated,
            "pending": len(self._queue),
            "callback_errors": self.callback_errors,
            "lost_at_exit": self.lost_at_exit,
            "window": len(self._seen),
        }


EXIT_TIMEOUT = 2.0
"""Seconds the exit hook waits, in all, for every client's queued exposures to be delivered;
what is still queued then is counted in ``stats()["exposures"]["lost_at_exit"]`` and logged."""


@atexit.register
def _flush_at_exit() -> None:
    deadline = time.monotonic() + EXIT_TIMEOUT
    trackers = list(_LIVE)
    for tracker in trackers:
        try:
            tracker.close(timeout=max(0.0, deadline - time.monotonic()))
        except Exception:  # pragma: no cover - never fail interpreter shutdown
            logger.exception("flagkit: flushing exposures at exit failed")
    lost = 0
    for tracker in trackers:
        try:
            lost += tracker.abandon()
        except Exception:  # pragma: no cover - never fail interpreter shutdown
            logger.exception("flagkit: counting undelivered exposures at exit failed")
    if lost:
        logger.warning(
            "flagkit: %d exposures were not delivered at exit (the exit hook waits at most %.1f s for"
            " exposure callbacks; counted in stats()['exposures']['lost_at_exit'])",
            lost,
            EXIT_TIMEOUT,
        )
