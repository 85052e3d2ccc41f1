"""Guarded rollouts: a new code path that fails too often switches its flag off, in process.

::

    @flags.when("new_checkout", otherwise=old_checkout, guard=Guard(max_failure_rate=0.2))
    def new_checkout(cart): ...

When the flag is on and ``new_checkout`` raises, that call falls back to ``old_checkout``
with the same arguments (or re-raises, with ``reraise=True``) and the failure is counted.
When failures exceed the budget — at least ``min_calls`` calls in the last ``window``
seconds, and a failure rate of at least ``max_failure_rate`` among them — the guard *trips*:
for ``cooldown`` seconds this process serves the flag switched off (what ``enabled: false``
serves: its ``off_variant``, else its ``false`` variant, else its default) to every caller
(``is_enabled``, ``evaluate``, templates, other code paths) with reason ``GUARD_TRIPPED``,
reports a :class:`GuardTrippedError` to ``on_error`` listeners and logs a warning. Then the
flag is served as defined again, with a fresh window.

Only guarded calls pay for this (a lock and a few integer updates per call); ``when``
without a guard is unchanged. The window is a ring of ten buckets, so memory is constant.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from .._client.shapes import GuardedBlock
from ..errors import FlagkitError
from .switches import when

if TYPE_CHECKING:
    from .._client.layers import GuardHost
    from .._client.shapes import CallContext

__all__ = ["Guard", "GuardTrippedError", "GuardedBlock"]

logger = logging.getLogger("flagkit")
F = TypeVar("F", bound=Callable[..., Any])
_BUCKETS = 10


class GuardTrippedError(FlagkitError):
    """Reported to ``on_error`` listeners (as ``("guard:KEY", error)``) when a guard trips.

    Attributes:
        key: The flag switched off.
        failures: Failed calls in the window.
        calls: Calls in the window.
        cooldown: Seconds the flag stays off in this process.
        last_error: The type name of the last exception (never its message: it may hold user data).
    """

    def __init__(self, key: str, failures: int, calls: int, cooldown: float, last_error: str) -> None:
        self.key = key
        self.failures = failures
        self.calls = calls
        self.cooldown = cooldown
        self.last_error = last_error
        super().__init__(
            f"guard tripped for flag {key!r}: {failures} of {calls} guarded calls failed "
            f"(last: {last_error}); switching it off for {cooldown:g} s in this process"
        )


class Guard:
    """A failure budget for one flag's guarded code path.

    Args:
        max_failure_rate: Trip when at least this share of the calls in the window failed.
        min_calls: ... and at least this many calls were made in it (no verdict on 2 calls).
        window: Length of the sliding window, seconds.
        cooldown: Seconds the flag stays off once tripped.
        reraise: Re-raise the new path's exception (after counting it) instead of calling
            ``otherwise``.
        exceptions: The exceptions that count as failures and fall back; others propagate
            uncounted.
        clock: Monotonic seconds (``time.monotonic``); tests pass a fake one.

    A guard belongs to one flag of one client: it is bound at its first use.
    """

    def __init__(
        self,
        *,
        max_failure_rate: float = 0.5,
        min_calls: int = 20,
        window: float = 60.0,
        cooldown: float = 300.0,
        reraise: bool = False,
        exceptions: tuple[type[BaseException], ...] = (Exception,),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < max_failure_rate <= 1:
            raise ValueError("max_failure_rate must be in (0, 1]")
        if min_calls < 1:
            raise ValueError("min_calls must be at least 1")
        if window <= 0 or cooldown <= 0:
            raise ValueError("window and cooldown must be positive")
        self.max_failure_rate = max_failure_rate
        self.min_calls = min_calls
        self.window = window
        self.cooldown = cooldown
        self.reraise = reraise
        self.exceptions = exceptions
        self.clock = clock
        self._width = window / _BUCKETS
        self._slot_ids = [-1] * _BUCKETS
        self._calls = [0] * _BUCKETS
        self._failures = [0] * _BUCKETS
        self._lock = threading.Lock()
        self._tripped_until: float | None = None
        self._trips = 0
        self._owner: tuple[GuardHost, str] | None = None

    def __repr__(self) -> str:
        key = self._owner[1] if self._owner else None
        return (
            f"<Guard {key!r} rate>={self.max_failure_rate:g} min_calls={self.min_calls} trips={self._trips}>"
        )

    @property
    def tripped(self) -> bool:
        """True while the flag is switched off by this guard."""
        until = self._tripped_until
        return until is not None and self.clock() < until

    @property
    def trips(self) -> int:
        """How often this guard has tripped."""
        return self._trips

    def counts(self) -> tuple[int, int]:
        """``(calls, failures)`` in the current window."""
        with self._lock:
            return self._window(int(self.clock() // self._width))

    def bind(self, flags: GuardHost, key: str) -> Guard:
        """Attach to a client's flag (done by ``when``/``guarded``); a guard guards one flag."""
        if self._owner is None:
            self._owner = (flags, key)
        elif self._owner[0] is not flags or self._owner[1] != key:
            raise ValueError(f"this Guard already guards {self._owner[1]!r}; create one Guard per flag")
        return self

    # --- counting -------------------------------------------------------------------------

    def _window(self, now_id: int) -> tuple[int, int]:
        calls = failures = 0
        oldest = now_id - _BUCKETS
        for i in range(_BUCKETS):
            if self._slot_ids[i] > oldest:
                calls += self._calls[i]
                failures += self._failures[i]
        return calls, failures

    def _count(self, failed: bool) -> tuple[int, int] | None:
        """Count one call; return ``(failures, calls)`` when this call trips the guard."""
        now = self.clock()
        slot_id = int(now // self._width)
        with self._lock:
            if self._tripped_until is not None:
                if now < self._tripped_until:
                    return None  # a call that was already running when it tripped
                self._reset()
            i = slot_id % _BUCKETS
            if self._slot_ids[i] != slot_id:
                self._slot_ids[i], self._calls[i], self._failures[i] = slot_id, 0, 0
            self._calls[i] += 1
            if not failed:
                return None
            self._failures[i] += 1
            calls, failures = self._window(slot_id)
            if calls < self.min_calls or failures < self.max_failure_rate * calls:
                return None
            self._tripped_until = now + self.cooldown
            self._trips += 1
            return failures, calls

    def _reset(self) -> None:
        self._tripped_until = None
        self._slot_ids = [-1] * _BUCKETS
        self._calls = [0] * _BUCKETS
        self._failures = [0] * _BUCKETS

    def record(self, error: BaseException | None) -> None:
        """Count the outcome of one call of the new path (``None``: it succeeded)."""
        if self._owner is None:
            raise RuntimeError("record() on a Guard that guards no flag yet")
        if error is not None:
            logger.debug("flagkit: guarded path of %r raised %s", self._owner[1], type(error).__name__)
        verdict = self._count(error is not None)
        if verdict is not None:
            flags, key = self._owner
            failures, calls = verdict
            trip(
                flags, key, self, GuardTrippedError(key, failures, calls, self.cooldown, type(error).__name__)
            )
        elif self._tripped_until is None:
            flags, key = self._owner
            if flags.layers.is_tripped(key):
                flags.layers.untrip(key)


# --- the client's side ----------------------------------------------------------------------


def trip(flags: GuardHost, key: str, guard: Guard, error: GuardTrippedError) -> None:
    """Serve ``key`` switched off with reason GUARD_TRIPPED in ``flags`` until the cool-down ends."""
    until = guard._tripped_until
    if until is None:  # pragma: no cover - set by the caller under the guard's lock
        return
    flags.layers.trip(key, until, guard.clock, error)


# --- code paths -----------------------------------------------------------------------------


def guarded_when(
    flags: GuardHost,
    key: str,
    otherwise: Callable[..., Any] | None,
    context: CallContext,
    guard: Guard,
) -> Callable[[F], F]:
    """The ``when`` decorator with a guard (see :meth:`flagkit.Flags.when`).

    The flag check is :func:`flagkit.codepaths.when`'s; the function it calls when the flag
    is on is ``func`` wrapped to count its outcome and fall back when it fails.
    """
    guard.bind(flags, key)
    caught = guard.exceptions
    switch = when(flags, key, otherwise=otherwise, context=context)

    def failed(exc: BaseException, args: Any, kwargs: Any) -> Any:
        guard.record(exc)
        if guard.reraise:
            raise exc
        return None if otherwise is None else otherwise(*args, **kwargs)

    def decorate(func: F) -> F:
        if not callable(func):
            raise TypeError(f"when() decorates a callable, got {type(func).__name__}")
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_new(*args: Any, **kwargs: Any) -> Any:
                try:
                    result = await func(*args, **kwargs)
                except caught as exc:
                    fallback = failed(exc, args, kwargs)
                    return await fallback if inspect.isawaitable(fallback) else fallback
                guard.record(None)
                return result

            return switch(async_new)  # type: ignore[return-value]  # same signature via wraps

        @functools.wraps(func)
        def new(*args: Any, **kwargs: Any) -> Any:
            try:
                result = func(*args, **kwargs)
            except caught as exc:
                return failed(exc, args, kwargs)
            guard.record(None)
            return result

        return switch(new)  # type: ignore[return-value]  # same signature via wraps

    return decorate


@contextmanager
def guarded_block(
    flags: GuardHost, key: str, guard: Guard, context: Mapping[str, Any] | None
) -> Iterator[GuardedBlock]:
    """Context-manager form (see :meth:`flagkit.Flags.guarded`)."""
    guard.bind(flags, key)
    block = GuardedBlock(flags.is_enabled(key, context))
    try:
        yield block
    except guard.exceptions as exc:
        if not block.enabled:
            raise
        guard.record(exc)
        block.failed, block.error = True, exc
        if guard.reraise:
            raise
    else:
        if block.enabled:
            guard.record(None)


def guard_for(flags: GuardHost, key: str, guard: Guard | None) -> Guard:
    """The guard to use: the one given (remembered for ``key``), or the one ``key`` already has."""
    return flags.layers.guard(key, guard, Guard).bind(flags, key)
