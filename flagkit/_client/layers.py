"""Layers served on top of the providers' merged flags: test overrides and guard trips.

:meth:`Flags.push_overrides <flagkit.Flags.push_overrides>` (what
:func:`flagkit.testing.override_flags` uses) stacks override layers; a tripped guard
(:mod:`flagkit.codepaths.guards`) switches its flag off in this process for a cool-down.
Guards reach the trip state only through :class:`GuardHost` (the client: its ``layers`` are
a :class:`TripSwitch`): the guard module imports nothing else from the client, and the client
imports nothing from ``flagkit.codepaths`` (it sits above the client in the layer order).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from .._engine.compiler import (
    CompiledFlag,
    Resolution,
    Resolver,
    compile_static,
    constant_flag,
    switched_off_variant,
    thawed,
)
from ..evaluation import CODE_DEFAULT, CODE_DEFAULT_NAME, Reason

__all__ = [
    "GuardHost",
    "GuardStats",
    "Layers",
    "TripSwitch",
    "off_resolution",
    "override_flag",
    "tripped_flag",
]

logger = logging.getLogger("flagkit")
G = TypeVar("G", bound="GuardStats")
Clock = Callable[[], float]


class GuardStats(Protocol):
    """What the client reads of a guard for :meth:`Flags.stats <flagkit.Flags.stats>`."""

    @property
    def trips(self) -> int: ...

    @property
    def tripped(self) -> bool: ...

    def counts(self) -> tuple[int, int]: ...


class TripSwitch(Protocol):
    """The trip state of one client, as its guards use it (``Flags.layers`` has it)."""

    def trip(self, key: str, until: float, clock: Clock, error: BaseException) -> None:
        """Serve ``key`` switched off (reason GUARD_TRIPPED) until ``clock() >= until``; tell
        the ``on_error`` listeners (as ``guard:KEY``)."""

    def untrip(self, key: str) -> None:
        """Serve ``key`` as defined again (its cool-down is over)."""

    def is_tripped(self, key: str) -> bool:
        """Whether a trip layer for ``key`` is in place."""

    def guard(self, key: str, guard: G | None, make: Callable[[], G]) -> G:
        """The guard of ``key``: ``guard`` (remembered for ``key``), else the one ``key`` has,
        else ``make()``."""


class GuardHost(Protocol):
    """What a guard needs from the client it guards a flag of: :class:`~flagkit.Flags` has it."""

    @property
    def layers(self) -> TripSwitch: ...

    def is_enabled(self, key: str, context: Mapping[str, Any] | None = None) -> bool: ...

    def variant(self, key: str, context: Mapping[str, Any] | None = None) -> str | None: ...


class Layers:
    """The override layers and guard trips of one client (its guards' :class:`TripSwitch`).

    Every change republishes the client's snapshot through ``republish`` (which takes the
    client's lock); ``notify`` tells its ``on_error`` listeners.
    """

    __slots__ = ("_notify", "_republish", "guards", "lock", "overrides", "tripped")

    def __init__(
        self,
        lock: threading.RLock,
        republish: Callable[[], None],
        notify: Callable[[str, BaseException], None],
    ) -> None:
        self.lock = lock
        """The client's lock (replaced, with the client's, in a fork child)."""
        self._republish = republish
        self._notify = notify
        self.overrides: list[tuple[object, dict[str, Any]]] = []
        self.tripped: dict[str, tuple[float, Clock]] = {}
        """Flags switched off by a guard: key → (until, clock)."""
        self.guards: dict[str, GuardStats] = {}

    def __bool__(self) -> bool:
        return bool(self.overrides or self.tripped)

    # --- overrides ----------------------------------------------------------------------

    def push(self, values: Mapping[str, Any]) -> object:
        """Add an override layer (the latest wins); the handle for :meth:`pop`."""
        handle = object()
        with self.lock:
            self.overrides.append((handle, dict(values)))
            self._republish()
        return handle

    def pop(self, handle: object) -> None:
        """Remove the override layer ``handle``."""
        with self.lock:
            self.overrides = [(h, v) for h, v in self.overrides if h is not handle]
            self._republish()

    # --- TripSwitch ---------------------------------------------------------------------

    def trip(self, key: str, until: float, clock: Clock, error: BaseException) -> None:
        with self.lock:
            self.tripped[key] = (until, clock)
            self._republish()
        logger.warning("flagkit: %s", error)
        self._notify(f"guard:{key}", error)

    def untrip(self, key: str) -> None:
        with self.lock:
            if self.tripped.pop(key, None) is not None:
                self._republish()

    def is_tripped(self, key: str) -> bool:
        return key in self.tripped

    def guard(self, key: str, guard: G | None, make: Callable[[], G]) -> G:
        with self.lock:
            known: Any = self.guards.get(key)
            if guard is None:
                guard = known or make()
            self.guards[key] = guard
        return guard

    # --- applying them ------------------------------------------------------------------

    def apply(
        self, base: Mapping[str, CompiledFlag], flags: dict[str, CompiledFlag], providers: dict[str, str]
    ) -> None:
        """Serve the trips, then the override layers (oldest first), in ``flags``/``providers``
        (copies of ``base``'s). Pure apart from writing the two dicts."""
        for key, (until, clock) in self.tripped.items():
            if key in flags:
                flags[key] = tripped_flag(flags[key], until, clock)
        for _, layer in self.overrides:
            for key, value in layer.items():
                flags[key] = override_flag(key, value, base.get(key))
                providers[key] = "override"


def override_flag(key: str, value: Any, current: CompiledFlag | None) -> CompiledFlag:
    """A flag serving ``value`` with reason OVERRIDE.

    The value is always served as given. Its variant name is the name of the overridden
    flag's variant with an equal value, if there is one (so variant dispatch sees the real
    variant), else the value as a string (``on``/``off`` for booleans).
    """
    variant: str | None = None
    if current is not None:
        for name, candidate in current.variants.items():
            candidate = thawed(candidate)  # read-only: compare as the plain value it stands for
            if type(candidate) is type(value) and candidate == value:
                variant = name
                break
    if variant is None:
        static = compile_static(key, value, source="override")
        variant, variants = static.default_variant, static.variants
    else:
        variants = current.variants if current is not None else {variant: value}
    return constant_flag(key, value, variant, variants, Reason.OVERRIDE, source="override")


def off_resolution(flag: CompiledFlag) -> Resolution:
    """What ``flag`` serves while its guard is tripped: switched *off*
    (:func:`flagkit._engine.compiler.switched_off_variant`, the same variant as ``enabled:
    false``), so ``when`` takes the old path everywhere in the process. ``code_default`` there
    serves the caller's default.
    """
    name = switched_off_variant(flag)
    if name == CODE_DEFAULT_NAME or name not in flag.variants:
        return (CODE_DEFAULT, None, Reason.GUARD_TRIPPED, None)
    return (flag.variants[name], name, Reason.GUARD_TRIPPED, None)


def tripped_flag(flag: CompiledFlag, until: float, clock: Clock) -> CompiledFlag:
    """``flag`` switched off (:func:`off_resolution`) with reason GUARD_TRIPPED until ``until``.

    After ``until`` it serves as defined again even before the layer is removed.
    """
    off = off_resolution(flag)
    original = flag.resolve
    value = off[0]
    if isinstance(value, dict | list):  # read-only and shared: serve each caller its own copy

        def resolve(ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
            if clock() < until:
                return (thawed(value), off[1], off[2], off[3])
            return original(ctx, table)

    else:

        def resolve(ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
            if clock() < until:
                return off
            return original(ctx, table)

    wrapped: Resolver = resolve
    return CompiledFlag(
        flag.key, wrapped, flag.variants, flag.default_variant, flag.spec, flag.fingerprint, flag.source
    )
