"""The snapshot: an immutable, merged view of every provider's flags, and how it is built.

Building is pure (:func:`merge_flagsets`, :func:`build_snapshot`): flag sets, layers and
observers in, a :class:`Snapshot` out; the client publishes it with one attribute
assignment, so the evaluation path reads it without a lock. Tested without threads in
tests/client/test_snapshot.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .._engine.compiled import constant_of
from .._engine.compiler import CompiledFlag, Resolution, Resolver
from .._observe.hooks import HookRunner, HookStats, Observe, observer, observing
from ..evaluation import CODE_DEFAULT
from ..flagset import FlagSet

if TYPE_CHECKING:
    from .._observe.exposures import ExposureTracker
    from .._observe.usage import UsageRecorder
    from .layers import Layers

__all__ = [
    "EMPTY_SNAPSHOT",
    "Snapshot",
    "build_snapshot",
    "constant_resolution",
    "evaluate_all",
    "merge_flagsets",
]


class _AlwaysEmpty(dict[str, Any]):
    """The ``fast`` table of a snapshot with hooks or observers: empty, so every lookup misses
    and the core takes its observed path. A dict (``.get`` on a ``MappingProxyType`` costs
    ~25 ns more) that refuses writes (the core caches a miss only in a plain ``dict``)."""

    __slots__ = ()

    def __setitem__(self, key: str, value: Any) -> None:
        raise TypeError("the fast table of an observed snapshot stays empty")


_NO_FAST: Mapping[str, Any] = _AlwaysEmpty()

# A constant flag's resolver is a `_Constant`'s bound method (see flagkit._engine.compiled),
# recognised by `constant_of`, so the core serves its resolution without a merge or a call.
# Wrapped resolvers (a mutable value's fresh copies, a guard trip's clock, usage observers) are
# not recognised: they are called as before.
constant_resolution = constant_of


def fast_table(table: Mapping[str, Resolver]) -> dict[str, Resolution | Resolver]:
    """``table`` with each constant flag's resolver replaced by its resolution (a tuple)."""
    fast: dict[str, Resolution | Resolver] = {}
    for key, resolve in table.items():
        constant = constant_resolution(resolve)
        fast[key] = resolve if constant is None else constant
    return fast


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An immutable, merged view of every provider's flags.

    Attributes:
        table: Flag key → resolver (the hot path reads only this).
        flags: Flag key → compiled flag (metadata for tools).
        generation: Increases with every published snapshot.
        providers: Flag key → name of the provider serving it (``"override"`` for overrides).
        hooks: The client's hooks and the observers of usage and exposures, or ``None`` when
            there are none (the hot path tests only this).
        fast: The evaluation core's table (flagkit's own; not for applications): flag key →
            the pre-built resolution of a flag that serves the same to every context, or
            its resolver. Built from ``table`` when not given.
    """

    table: Mapping[str, Resolver]
    flags: Mapping[str, CompiledFlag]
    generation: int = 0
    providers: Mapping[str, str] = field(default_factory=dict)
    hooks: HookRunner | None = None
    fast: Mapping[str, Resolution | Resolver] = field(default=None, repr=False, compare=False)  # type: ignore[arg-type]  # None: built in __post_init__

    def __post_init__(self) -> None:
        if self.fast is None:
            # With hooks or observers the core never reads it (nor writes a miss into it).
            object.__setattr__(self, "fast", fast_table(self.table) if self.hooks is None else _NO_FAST)


EMPTY_SNAPSHOT = Snapshot({}, {}, 0)


def merge_flagsets(
    sources: Sequence[tuple[str, FlagSet | None]], previous: Snapshot
) -> tuple[Snapshot, frozenset[str]]:
    """The providers' flag sets merged (``sources`` in precedence order: the first wins, flag
    by flag) as the next base snapshot after ``previous``, and the keys whose behaviour changed."""
    flags: dict[str, CompiledFlag] = {}
    providers: dict[str, str] = {}
    for name, flagset in reversed(sources):
        if flagset is not None:
            flags.update(flagset.flags)
            providers.update(dict.fromkeys(flagset.flags, name))
    old = previous.flags
    changed = frozenset(
        key
        for key in old.keys() | flags.keys()
        if key not in old or key not in flags or old[key].fingerprint != flags[key].fingerprint
    )
    table = {key: flag.resolve for key, flag in flags.items()}
    return Snapshot(table, flags, previous.generation + 1, providers), changed


def build_snapshot(
    base: Snapshot,
    *,
    layers: Layers | None = None,
    hooks: HookRunner | None = None,
    hook_stats: HookStats | None = None,
    usage: UsageRecorder | None = None,
    exposures: ExposureTracker | None = None,
    track_all: bool = False,
    launching: Callable[[Mapping[str, Resolver]], dict[str, Resolver]] | None = None,
) -> Snapshot:
    """The snapshot to publish: ``base`` (the providers' merged flags) with the override and
    trip ``layers`` on top, and the hooks and observers (usage counts, exposures) wired in.

    ``launching``, until the client's first use in this process, wraps each resolver so that
    its first call starts the client's threads. Pure: reads its arguments, writes nothing.
    """
    if not layers and hooks is None and usage is None and exposures is None:
        if launching is None:
            return base
        return Snapshot(launching(base.table), base.flags, base.generation, base.providers)
    flags = dict(base.flags)
    providers = dict(base.providers)
    if layers:
        layers.apply(base.flags, flags, providers)
    table = {key: flag.resolve for key, flag in flags.items()}
    if launching is not None:
        table = launching(table)
    observed: dict[str, tuple[Resolver, Observe | None]] = {}
    exposed = False
    if usage is not None or exposures is not None:
        for key, flag in flags.items():  # per flag, once: nothing is looked up per call
            resolve = table[key]
            record = (
                exposures.recorder(key, flag)
                if exposures is not None and (track_all or _tracked(base.flags.get(key, flag)))
                else None
            )
            exposed = exposed or record is not None
            observe = observer(usage.counter(key, flag, resolve) if usage is not None else None, record)
            observed[key] = (resolve, observe)
            if observe is not None:
                table[key] = observing(resolve, observe)  # prerequisites, all_values
    runner = hooks
    if any(observe is not None for _, observe in observed.values()):
        # the evaluation methods observe what the caller got (see core.Core._observed); with usage
        # alone they append to its tallies themselves (the fast lane of is_enabled and friends)
        lanes = (
            {key: (resolve, usage.tally(key)) for key, (resolve, _) in observed.items()}
            if usage is not None and usage.running and not exposed and (runner is None or not runner.hooks)
            else None
        )
        runner = HookRunner(
            runner.hooks if runner is not None else (), hook_stats or HookStats(), observed, lanes
        )
    return Snapshot(table, flags, base.generation, providers, runner)


def _tracked(flag: CompiledFlag) -> bool:
    return flag.spec is not None and flag.spec.track


def read_only(snap: Snapshot) -> Snapshot:
    """A view of ``snap`` whose mappings are read-only (what ``Flags.snapshot()`` yields)."""
    return Snapshot(
        MappingProxyType(snap.table),
        MappingProxyType(snap.flags),
        snap.generation,
        MappingProxyType(snap.providers),
        snap.hooks,
        MappingProxyType(snap.fast),  # a read-only view of the same table
    )


def evaluate_all(
    snap: Snapshot,
    context: Mapping[str, Any] | None,
    merge: Callable[[Mapping[str, Any] | None], Mapping[str, Any]],
) -> dict[str, Any]:
    """``Flags.all_values``: ``{key: value}`` of every flag of ``snap`` for ``context`` (merged
    by ``merge``); errors and flags serving the caller's default are left out."""
    out: dict[str, Any] = {}
    try:
        ctx = merge(context)
    except Exception:  # a context that is not a mapping: nothing can be evaluated
        return out
    for key, resolve in snap.table.items():
        try:
            value = resolve(ctx, snap.table)[0]
        except Exception:
            continue
        if value is not CODE_DEFAULT:  # only the calling code knows that value
            out[key] = value
    return out
