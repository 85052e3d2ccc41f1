"""Flags: the client application code calls.

Hot path (``is_enabled``, ``get_value``, ``variant``): read the ambient context var, read one
attribute (the current snapshot), one dict lookup, one call of the compiled resolver. No
locks, no logging, no pydantic, no allocation beyond what a merged context needs. Writers
(providers reporting, overrides) build a new :class:`Snapshot` under a lock and publish it
with a single attribute assignment.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, overload

from .._context import AMBIENT, context
from .._engine.compiler import CompiledFlag, Resolution, Resolver, compile_static, constant_flag, thawed
from .._observe.exposures import ExposureCallback, ExposureTracker
from .._observe.hooks import ERROR_RESOLUTION, HookRunner, HookStats, Observe, has_stage, observer, observing
from .._observe.usage import UsageRecorder
from ..errors import FlagNotFoundError, SourceError, did_you_mean
from ..evaluation import CODE_DEFAULT, ErrorCode, Evaluation, Reason
from ..flagset import FlagSet
from ..providers._runner import ThreadedProvider
from ..providers.base import Provider
from .listeners import Dispatcher, ListenerLanes

if TYPE_CHECKING:
    from ..codepaths import CallContext, OptionalSwitch, Switch, VariantDispatcher
    from ..codepaths.guards import Guard, GuardedBlock

__all__ = ["Flags", "ProviderStatus", "Snapshot"]

logger = logging.getLogger("flagkit")

T = TypeVar("T")
H = TypeVar("H")
F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")
ChangeListener = Callable[[frozenset[str]], None]
ErrorListener = Callable[[str, BaseException], None]
State = Literal["not_ready", "ready", "stale", "error"]

_SUPERVISE_EVERY = 0.5
"""Seconds between two checks for dead provider threads from ``context()``/``snapshot()``."""


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
    """

    table: Mapping[str, Resolver]
    flags: Mapping[str, CompiledFlag]
    generation: int = 0
    providers: Mapping[str, str] = field(default_factory=dict)
    hooks: HookRunner | None = None


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


class _ProviderSlot:
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


_EMPTY_SNAPSHOT = Snapshot({}, {}, 0)
_LIVE_CLIENTS: weakref.WeakSet[Flags] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_LIVE_CLIENTS):
        # A provider thread may have held the lock at fork time; that thread does not exist
        # in the child, so the inherited lock could stay locked forever. Only the forking
        # thread runs here, so swapping in a fresh lock is safe.
        client._lock = threading.RLock()
        client._dispatcher.after_fork()
        client._lanes.after_fork()  # fresh lane state; the lanes start with the child's first use
        client._forked(launch=False)  # the child's threads start on its first use


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent only on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Flags:
    """Evaluate feature flags from one or more providers.

    Providers listed first win, flag by flag. Construction starts the providers and never
    blocks on the network: a file is read at once, and every background thread (watchers,
    pollers, listeners, usage, exposures) starts at the client's first use in the process
    (an evaluation, :meth:`wait_ready`, :attr:`ready`, :meth:`status`, :meth:`context`, a
    listener's registration...),
    so a pre-fork server's master that only creates the client runs none. Call
    :meth:`wait_ready` to wait for first loads.

    Args:
        *providers: Where the flags come from (first wins).
        strict: Raise :class:`~flagkit.FlagNotFoundError` for unknown keys (for tests).
        usage: Count evaluations per flag, variant and reason (see :meth:`usage`).
        track_all: Report exposures of every flag, not only those with ``track: true``
            (see :meth:`on_exposure`).

    Example:
        >>> flags = Flags.from_dict({"new_checkout": True})
        >>> flags.is_enabled("new_checkout")
        True
    """

    def __init__(
        self, *providers: Provider, strict: bool = False, usage: bool = False, track_all: bool = False
    ) -> None:
        for provider in providers:
            if not isinstance(provider, Provider):
                hint = (
                    f": to load a flag file, use Flags.from_file({str(provider)!r})"
                    if isinstance(provider, str | os.PathLike)
                    else ""
                )
                raise TypeError(f"expected a flagkit Provider, got {type(provider).__name__}{hint}")
        self._strict = strict
        self._warned: set[tuple[str, str]] = set()  # (problem, key) logged once (see _warn_once)
        self._slots = [_ProviderSlot(p) for p in providers]
        self._base: Snapshot = _EMPTY_SNAPSHOT
        self._snapshot: Snapshot = _EMPTY_SNAPSHOT
        self._overrides: list[tuple[object, dict[str, Any]]] = []
        self._tripped: dict[str, tuple[float, Callable[[], float]]] = {}
        """Flags switched off by a guard: key → (until, clock); see flagkit.codepaths.guards."""
        self._guards: dict[str, Guard] = {}
        self._lock = threading.RLock()
        self._change_listeners: list[ChangeListener] = []
        self._hook_stats = HookStats()
        self._hooks: HookRunner | None = None
        self._usage: UsageRecorder | None = None
        self._exposures: ExposureTracker | None = None
        self._track_all = track_all
        self._error_listeners: list[ErrorListener] = []
        self._recovery_listeners: list[Callable[[str], object]] = []
        self._dispatcher = Dispatcher(self)
        self._lanes = ListenerLanes()  # a thread per listener: one slow listener delays no other
        self._pin: ContextVar[Snapshot | None] = ContextVar(f"flagkit_pin_{id(self)}", default=None)
        self._pins = 0
        self._ready = threading.Event()
        self._closed = False
        self._pid = os.getpid()
        self._launched = False
        """Whether this process's threads were started (see :meth:`_launch`)."""
        self._next_supervision = 0.0
        _LIVE_CLIENTS.add(self)
        if usage:
            self.enable_usage()
        if not providers:
            self._ready.set()
        try:
            for index, provider in enumerate(providers):
                if isinstance(provider, ThreadedProvider):
                    provider.owned_by(self)  # dropped without close(): its threads end
                    provider.start(self._reporter(index), defer=True)  # threads: at first use
                else:
                    provider.start(self._reporter(index))
        except BaseException:
            self.close()  # stop the providers already started; don't leave their threads behind
            raise

    # --- construction shortcuts ---------------------------------------------------------

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        watch: bool = True,
        strict: bool = False,
        usage: bool = False,
        track_all: bool = False,
    ) -> Flags:
        """Flags from one YAML/JSON file, hot reloaded when it changes (``watch=True``).

        Raises:
            ConfigError: The file is invalid at start-up (later bad edits keep the last good flags).
            SourceError: The file does not exist or cannot be read at start-up.
        """
        from ..document.reader import missing_file_message
        from ..providers.file import FileProvider

        if not os.path.exists(path):  # said once, as an error, with the file probably meant
            raise SourceError(missing_file_message(path), os.fspath(path))
        provider = FileProvider(path, watch=watch)
        flags = cls(provider, strict=strict, usage=usage, track_all=track_all)
        error = flags._slots[0].error
        if flags._slots[0].flagset is None and error is not None:
            flags.close()
            raise error
        return flags

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, strict: bool = False, usage: bool = False, track_all: bool = False
    ) -> Flags:
        """Flags from an in-memory mapping in the flag file format (see :class:`DictProvider`)."""
        from ..providers.dict import DictProvider

        return cls(DictProvider(data), strict=strict, usage=usage, track_all=track_all)

    # --- evaluation (hot path) ----------------------------------------------------------
    # is_enabled, get_value, variant and evaluate repeat the same few lines (snapshot, lookup,
    # context merge, resolve) on purpose: a shared helper costs one more Python call, ~60 ns,
    # a third of a boolean flag's whole evaluation. Keep the four in step when editing.

    def is_enabled(self, key: str, context: Mapping[str, Any] | None = None) -> bool:
        """True when the flag serves the boolean ``true``; False otherwise, including on errors.

        Args:
            key: The flag key.
            context: Attributes of the user/request, merged over the ambient context.
        """
        snap = self._snapshot if not self._pins else (self._pin.get() or self._snapshot)
        if snap.hooks is not None:
            # Usage alone: counted here, after the check, by appending the resolution to the
            # flag's tally (one C call); anything else (hooks, exposures, a miss, an error)
            # the long way.
            lane = snap.hooks.lanes.get(key)
            if lane is not None:
                counted, tally = lane
                try:
                    if context is None:
                        ctx = AMBIENT.get()
                    else:
                        ambient = AMBIENT.get()
                        ctx = {**ambient, **context} if ambient else context
                    res = counted(ctx, snap.table)
                except Exception:
                    res = _NO_RESOLUTION
                value = res[0]
                if value is True or value is False:
                    tally.append(res)
                    return value  # a bool: tested above
            return self._observed(snap, key, False, context, "is_enabled")[0] is True
        resolve = snap.table.get(key)
        if resolve is None:
            if self._strict:
                raise FlagNotFoundError(key)
            self._missing(key, snap)
            return False
        try:  # zero-cost unless it raises; the merge is inside because a non-mapping context fails there
            if context is None:
                ctx = AMBIENT.get()
            else:
                ambient = AMBIENT.get()
                ctx = {**ambient, **context} if ambient else context
            return resolve(ctx, snap.table)[0] is True
        except Exception:
            return False

    @overload
    def get_value(self, key: str, default: None, context: Mapping[str, Any] | None = None) -> Any: ...

    @overload
    def get_value(self, key: str, default: T, context: Mapping[str, Any] | None = None) -> T: ...

    def get_value(self, key: str, default: Any, context: Mapping[str, Any] | None = None) -> Any:
        """The flag's value, or ``default`` when the flag is unknown or its value has another type.

        The value must have the type of ``default`` (``int`` is accepted for a ``float``
        default; ``None`` as default accepts any type).
        """
        snap = self._snapshot if not self._pins else (self._pin.get() or self._snapshot)
        if snap.hooks is not None:
            lane = snap.hooks.lanes.get(key)  # usage alone: see is_enabled
            if lane is not None:
                counted, tally = lane
                try:
                    if context is None:
                        ctx = AMBIENT.get()
                    else:
                        ambient = AMBIENT.get()
                        ctx = {**ambient, **context} if ambient else context
                    res = counted(ctx, snap.table)
                except Exception:
                    res = _NO_RESOLUTION
                value = res[0]
                if res is not _NO_RESOLUTION and (
                    type(value) is type(default) or (default is None and value is not CODE_DEFAULT)
                ):
                    tally.append(res)
                    return value
            return self._observed(snap, key, default, context, "get_value")[0]
        resolve = snap.table.get(key)
        if resolve is None:
            if self._strict:
                raise FlagNotFoundError(key)
            self._missing(key, snap)
            return default
        try:
            if context is None:
                ctx = AMBIENT.get()
            else:
                ambient = AMBIENT.get()
                ctx = {**ambient, **context} if ambient else context
            value = resolve(ctx, snap.table)[0]
        except Exception:
            return default
        if type(value) is type(default) or (default is None and value is not CODE_DEFAULT):
            return value  # checked against type(default) above
        if value is CODE_DEFAULT:  # the file says: serve what the code passed
            return default
        coerced = _coerce(value, default)  # default, or a float for it
        if coerced is default and _kind(value) is not _kind(default):
            self._mismatch(key, value, default)
        return coerced

    def variant(self, key: str, context: Mapping[str, Any] | None = None) -> str | None:
        """The name of the variant served, or ``None`` if the flag is unknown or errored."""
        snap = self._snapshot if not self._pins else (self._pin.get() or self._snapshot)
        if snap.hooks is not None:
            lane = snap.hooks.lanes.get(key)  # usage alone: see is_enabled
            if lane is not None:
                counted, tally = lane
                try:
                    if context is None:
                        ctx = AMBIENT.get()
                    else:
                        ambient = AMBIENT.get()
                        ctx = {**ambient, **context} if ambient else context
                    res = counted(ctx, snap.table)
                except Exception:
                    res = _NO_RESOLUTION
                if res is not _NO_RESOLUTION and res[0] is not CODE_DEFAULT:
                    tally.append(res)
                    return res[1]  # a variant name or None
            return self._observed(snap, key, None, context, "variant")[1]
        resolve = snap.table.get(key)
        if resolve is None:
            if self._strict:
                raise FlagNotFoundError(key)
            self._missing(key, snap)
            return None
        try:
            if context is None:
                ctx = AMBIENT.get()
            else:
                ambient = AMBIENT.get()
                ctx = {**ambient, **context} if ambient else context
            return resolve(ctx, snap.table)[1]
        except Exception:
            return None

    @overload
    def evaluate(
        self, key: str, default: None, context: Mapping[str, Any] | None = None
    ) -> Evaluation[Any]: ...

    @overload
    def evaluate(self, key: str, default: T, context: Mapping[str, Any] | None = None) -> Evaluation[T]: ...

    def evaluate(self, key: str, default: Any, context: Mapping[str, Any] | None = None) -> Evaluation[Any]:
        """Full details: value, variant, reason, matching rule and error code."""
        snap = self._snapshot if not self._pins else (self._pin.get() or self._snapshot)
        if snap.hooks is not None:
            return self._hooked(snap, key, default, context, "evaluate")
        resolve = snap.table.get(key)
        if resolve is None:
            if self._strict:
                raise FlagNotFoundError(key)
            self._missing(key, snap)
            return _not_found(key, default)
        try:
            if context is None:
                ctx = AMBIENT.get()
            else:
                ambient = AMBIENT.get()
                ctx = {**ambient, **context} if ambient else context
            value, variant, reason, rule = resolve(ctx, snap.table)
        except Exception as exc:
            return _failed(key, default, exc)
        if not (type(value) is type(default) or (default is None and value is not CODE_DEFAULT)):
            details = _typed(key, default, value, variant, reason, rule)
            if details.error_code is ErrorCode.TYPE_MISMATCH:
                self._mismatch(key, value, default)
            return details
        return Evaluation(key, value, variant, reason, rule)

    # --- the miss branch: a typo'd key or a wrong default, logged once per key --------------

    def _missing(self, key: str, snap: Snapshot) -> None:
        if not self._launched:
            self._launch()  # nothing loaded yet (an HttpProvider's first fetch is a thread's)
        if not snap.table or ("missing", key) in self._warned:
            return  # nothing loaded yet (every key misses), or said already
        hint = did_you_mean(key, snap.table).replace("%", "%%")  # off the hot path: once per key
        self._warn_once(
            "missing", key, f"flagkit: flag %r is not defined{hint} (evaluated in %s): the default is served"
        )

    def _mismatch(self, key: str, value: Any, default: Any) -> None:
        if ("type", key) in self._warned:
            return
        self._warn_once(
            "type",
            key,
            f"flagkit: flag %r serves {_kind_words(value)} but the code's default is {_kind_words(default)}"
            " (evaluated in %s): the default is served",
        )  # fmt: skip

    def _warn_once(self, problem: str, key: str, message: str) -> None:
        """Log ``message`` (with the key and the calling module; never context values) once per
        key and problem; at most _MAX_WARNED keys per client, so dynamic keys cannot grow it."""
        if len(self._warned) >= _MAX_WARNED:
            return
        self._warned.add((problem, key))
        logger.warning(message, key[:200] if isinstance(key, str) else key, _call_site())

    def _observed(
        self, snap: Snapshot, key: str, default: Any, context: Mapping[str, Any] | None, method: str
    ) -> Resolution:
        """``(value, variant, ...)`` as the caller gets them, with hooks or observers (usage
        counts, exposures) on: the observers record what the caller got, after the type check.
        (The resolution itself when the caller gets it as served: nothing is allocated.)"""
        runner: HookRunner = snap.hooks  # type: ignore[assignment]  # every caller tests it
        if runner.hooks:  # hooks: their own path
            details = self._run_hooks(snap, runner, key, default, context, method)
            return details.value, details.variant, details.reason, details.rule
        entry = runner.observed.get(key)
        if entry is None:
            if self._strict:
                raise FlagNotFoundError(key)
            self._missing(key, snap)
            return default, None, _ERROR, None
        resolve, observe = entry
        try:
            if context is None:
                ctx = AMBIENT.get()
            else:
                ambient = AMBIENT.get()
                ctx = {**ambient, **context} if ambient else context
            res = resolve(ctx, snap.table)
        except Exception:  # a context that is not a mapping
            if observe is not None:
                observe(_NO_CONTEXT, ERROR_RESOLUTION)
            return default, None, _ERROR, None
        value = res[0]
        if type(value) is type(default) or (default is None and value is not CODE_DEFAULT):
            if observe is not None:
                observe(ctx, res)
            return res
        if value is CODE_DEFAULT:  # the file says: serve what the code passed
            if observe is not None:
                observe(ctx, res)
            return default, None, res[2], res[3]
        coerced = _coerce(value, default)  # default, or a float for it
        if coerced is default and _kind(value) is not _kind(default):  # TYPE_MISMATCH
            if observe is not None:
                observe(ctx, ERROR_RESOLUTION)
            if method != "is_enabled":  # is_enabled is False for anything but true, silently
                self._mismatch(key, value, default)
            return default, None, _ERROR, res[3]
        if observe is not None:
            observe(ctx, res)
        return coerced, res[1], res[2], res[3]

    def _hooked(
        self, snap: Snapshot, key: str, default: Any, context: Mapping[str, Any] | None, method: str
    ) -> Evaluation[Any]:
        """The evaluation with the registered hooks around it (see :mod:`flagkit._observe.hooks`), and
        observed (usage, exposures) as the caller gets it."""
        runner = snap.hooks
        if runner is None:  # pragma: no cover - every caller tests it first
            raise RuntimeError("no hooks registered")
        entry = runner.observed.get(key)
        if entry is not None and not runner.hooks:  # observers only: no HookContext
            resolve, observe = entry
            try:
                if context is None:
                    ctx = AMBIENT.get()
                else:
                    ambient = AMBIENT.get()
                    ctx = {**ambient, **context} if ambient else context
            except Exception as exc:  # a context that is not a mapping
                if observe is not None:
                    observe(_NO_CONTEXT, ERROR_RESOLUTION)
                return _failed(key, default, exc)
            return self._checked(snap, resolve, observe, key, default, method, ctx)[0]
        return self._run_hooks(snap, runner, key, default, context, method)

    def _run_hooks(
        self,
        snap: Snapshot,
        runner: HookRunner,
        key: str,
        default: Any,
        context: Mapping[str, Any] | None,
        method: str,
    ) -> Evaluation[Any]:
        entry = runner.observed.get(key)
        observe = entry[1] if entry is not None else None
        try:
            ctx = self._merge(context)
        except Exception as exc:  # a context that is not a mapping
            if observe is not None:
                observe(_NO_CONTEXT, ERROR_RESOLUTION)
            failure = (_failed(key, default, exc), exc)
            if not runner.hooks:
                return failure[0]
            return runner.run(key, default, {}, snap.providers.get(key), method, lambda _ctx: failure)
        flag = snap.flags.get(key)
        if flag is None:
            self._missing(key, snap)
            missing = FlagNotFoundError(key)
            if runner.hooks:
                details = runner.run(
                    key, default, ctx, None, method, lambda _ctx: (_not_found(key, default), missing)
                )
            else:
                details = _not_found(key, default)
            if self._strict:
                raise missing
            return details
        resolve = flag.resolve  # unobserved: observed once the type check is done
        if not runner.hooks:  # observers only
            return self._checked(snap, resolve, observe, key, default, method, ctx)[0]
        return runner.run(
            key,
            default,
            ctx,
            snap.providers.get(key),
            method,
            partial(self._checked, snap, resolve, observe, key, default, method),
        )

    def _checked(
        self,
        snap: Snapshot,
        resolve: Resolver,
        observe: Observe | None,
        key: str,
        default: Any,
        method: str,
        ctx: Mapping[str, Any],
    ) -> tuple[Evaluation[Any], Exception | None]:
        """Resolve, check the type against ``default``, observe what the caller gets: ``(details,
        exception)``, the exception set for an error (for the ``error`` hooks)."""
        try:
            value, variant, reason, rule = res = resolve(ctx, snap.table)
        except Exception as exc:
            if observe is not None:
                observe(_NO_CONTEXT, ERROR_RESOLUTION)
            return _failed(key, default, exc), exc
        if type(value) is type(default) or (default is None and value is not CODE_DEFAULT):
            if observe is not None:
                observe(ctx, res)
            return Evaluation(key, value, variant, reason, rule), None
        details = _typed(key, default, value, variant, reason, rule)
        if details.reason is _ERROR:
            if observe is not None:
                observe(ctx, ERROR_RESOLUTION)
            if method in ("get_value", "evaluate"):
                self._mismatch(key, value, default)
            return details, TypeError(details.error_message)
        if observe is not None:
            observe(ctx, res)
        return details, None

    def all_values(self, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``{key: value}`` for every flag (e.g. to bootstrap a front end). Errors, and flags that
        serve the caller's default (``code_default``), are left out."""
        self._check_fork()
        snap = self._current()
        out: dict[str, Any] = {}
        try:
            ctx = self._merge(context)
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

    def bootstrap(self, context: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Values and variants of the flags marked ``client: true``, for a front end.

        Returns ``{key: {"value": ..., "variant": ...}}`` (JSON-safe: a flag whose value is
        not plain JSON is left out and logged once; one serving ``code_default`` is left out,
        so the front end uses its own default); no other flag appears. Embed it with
        :func:`flagkit.bootstrap.script_tag` or the framework helpers (Django
        ``{% flagkit_bootstrap %}``, Flask ``flagkit_bootstrap()``, ASGI ``BootstrapEndpoint``).
        """
        from ..bootstrap import bootstrap_values

        self._check_fork()
        snap = self._current()
        try:
            ctx = self._merge(context)
        except Exception:  # a context that is not a mapping: nothing can be evaluated
            return {}
        return bootstrap_values(snap.table, snap.flags, self._base.flags, ctx, self._not_json)

    def _not_json(self, key: str) -> None:
        if ("json", key) not in self._warned:
            self._warn_once(
                "json", key, "flagkit: flag %r left out of the bootstrap (in %s): its value is not plain JSON"
            )

    def keys(self) -> list[str]:
        """Every flag key currently defined (overrides included), sorted."""
        return sorted(self._current().table)

    def get_flag(self, key: str) -> CompiledFlag | None:
        """The compiled flag (definition, variants, source) for tools, or ``None``."""
        return self._current().flags.get(key)

    def _merge(self, context: Mapping[str, Any] | None) -> Mapping[str, Any]:
        ambient = AMBIENT.get()
        if context is None:
            return ambient
        return {**ambient, **context} if ambient else context

    def _current(self) -> Snapshot:
        if self._pins:
            pinned = self._pin.get()
            if pinned is not None:
                return pinned
        return self._snapshot

    # --- context and pinning ------------------------------------------------------------

    def context(self, **attributes: Any) -> AbstractContextManager[Mapping[str, Any]]:
        """Ambient context for every evaluation in the block (see :func:`flagkit.context`)."""
        self._check_fork()
        return context(**attributes)

    @contextmanager
    def snapshot(self, *, forced: Mapping[str, str] | None = None) -> Iterator[Snapshot]:
        """Pin the current flag version for the block (a request or a transaction).

        A reload that lands meanwhile does not change answers inside the block; the pin is
        per thread / asyncio task. The snapshot yielded is a read-only view of the pinned one
        (its ``table``, ``flags`` and ``providers`` are ``MappingProxyType``s): every request
        evaluates against the same mappings, so none may be written through.

        Args:
            forced: Flag key → variant to serve inside this block only, with reason
                ``QA_OVERRIDE`` (a tester's browser overrides; unknown keys and variants
                are ignored). See :mod:`flagkit._client.forced`.
        """
        self._check_fork()
        snap = self._current()
        if forced:
            from .forced import forced_snapshot

            snap = forced_snapshot(snap, forced)
        token = self._pin.set(snap)
        with self._lock:
            self._pins += 1
        try:
            yield Snapshot(
                MappingProxyType(snap.table),
                MappingProxyType(snap.flags),
                snap.generation,
                MappingProxyType(snap.providers),
                snap.hooks,
            )
        finally:
            self._pin.reset(token)
            with self._lock:
                self._pins = max(0, self._pins - 1)  # a fork inside the block reset it

    # --- code paths ---------------------------------------------------------------------

    @overload
    def when(
        self, key: str, otherwise: None = None, *, context: CallContext = None, guard: Guard | None = None
    ) -> OptionalSwitch: ...

    @overload
    def when(
        self,
        key: str,
        otherwise: Callable[P, R],
        *,
        context: CallContext = None,
        guard: Guard | None = None,
    ) -> Switch[P, R]: ...

    def when(
        self,
        key: str,
        otherwise: Callable[..., Any] | None = None,
        *,
        context: CallContext = None,
        guard: Guard | None = None,
    ) -> Switch[Any, Any] | OptionalSwitch:
        """Decorator: call the function when the flag is on, else ``otherwise`` (see codepaths).

        ``context`` (a mapping, or a callable given the call's arguments) is merged over the
        ambient context for each call. With a ``guard`` (:class:`flagkit.Guard`), a call whose
        function raises falls back to ``otherwise``, and too many failures switch the flag off
        in this process for a cool-down (reason ``GUARD_TRIPPED``; see docs/operating.md).
        """
        if guard is not None:
            from ..codepaths.guards import guard_for, guarded_when

            return guarded_when(self, key, otherwise, context, guard_for(self, key, guard))
        from ..codepaths import when

        return when(self, key, otherwise=otherwise, context=context)

    def guarded(
        self, key: str, *, guard: Guard | None = None, context: Mapping[str, Any] | None = None
    ) -> AbstractContextManager[GuardedBlock]:
        """Context manager: a guarded block for ``key`` (the form of ``when(..., guard=)`` for blocks).

        ``g.enabled`` says whether to run the new path. An exception the guard counts, raised in
        the block while the flag is on, is counted and swallowed (``g.failed``, ``g.error``;
        re-raised with ``Guard(reraise=True)``): run the old path when ``g.use_fallback``::

            with flags.guarded("new_search") as g:
                if g.enabled:
                    results = new_search(query)
            if g.use_fallback:
                results = old_search(query)

        Without ``guard``, the key's guard from an earlier ``when``/``guarded`` is used, or a
        default :class:`~flagkit.Guard`.
        """
        from ..codepaths.guards import guard_for, guarded_block

        return guarded_block(self, key, guard_for(self, key, guard), context)

    def variants(
        self, key: str, *, context: CallContext = None
    ) -> Callable[[Callable[P, R]], VariantDispatcher[P, R]]:
        """Decorator: dispatch on the variant served (see :class:`flagkit.codepaths.VariantDispatcher`)."""
        from ..codepaths import variants

        return variants(self, key, context=context)

    # --- overrides (used by flagkit.testing) --------------------------------------------

    def push_overrides(self, values: Mapping[str, Any]) -> object:
        """Serve fixed values (reason OVERRIDE) on top of every provider until popped.

        Returns a handle for :meth:`pop_overrides`. Layers nest; the latest wins. Prefer
        :func:`flagkit.testing.override_flags`, which pops even when the block raises.

        Raises:
            TypeError: A value of a kind the flag never serves (``"yes"`` or ``1`` for a
                boolean flag, ``True`` for an integer one): its callers would get their own
                default and the test would silently run the default path. Flags that no
                provider defines (yet) take any value.
        """
        with self._lock:
            flags = self._base.flags
        for key, value in values.items():
            problem = _override_problem(key, value, flags.get(key))
            if problem:
                raise TypeError(problem)
        handle = object()
        with self._lock:
            self._overrides.append((handle, dict(values)))
            self._publish(self._base)
        return handle

    def pop_overrides(self, handle: object) -> None:
        """Remove an override layer added by :meth:`push_overrides`."""
        with self._lock:
            self._overrides = [(h, v) for h, v in self._overrides if h is not handle]
            self._publish(self._base)

    # --- listeners and status -----------------------------------------------------------

    def add_hook(self, hook: H) -> H:
        """Run ``hook`` around every evaluation of this client (see :mod:`flagkit._observe.hooks`).

        The hook is any object with one or more of ``before``, ``after``, ``error`` and
        ``finally_after`` (subclass :class:`~flagkit.Hook`). Returns the hook. Adding the same
        hook twice runs it twice.
        """
        if not has_stage(hook):
            raise TypeError(
                f"{type(hook).__name__} is not a hook: it needs before, after, error or finally_after"
            )
        with self._lock:
            current = self._hooks.hooks if self._hooks is not None else ()
            self._hooks = HookRunner((*current, hook), self._hook_stats)
            self._publish(self._base)
        return hook

    def remove_hook(self, hook: object) -> None:
        """Stop running ``hook`` (its latest registration); no-op if it is not registered."""
        with self._lock:
            hooks = list(self._hooks.hooks) if self._hooks is not None else []
            for i in range(len(hooks) - 1, -1, -1):
                if hooks[i] is hook:
                    del hooks[i]
                    break
            else:
                return
            self._hooks = HookRunner(tuple(hooks), self._hook_stats) if hooks else None
            self._publish(self._base)

    @property
    def hooks(self) -> tuple[object, ...]:
        """The registered hooks, in registration order."""
        runner = self._hooks
        return runner.hooks if runner is not None else ()

    def stats(self) -> dict[str, Any]:
        """JSON-safe counters of hooks, exposures, usage and guards (see docs/observing.md)."""
        exposures = self._exposures
        guards = {}
        for key, guard in list(self._guards.items()):
            calls, failures = guard.counts()
            guards[key] = {
                "calls": calls,
                "failures": failures,
                "trips": guard.trips,
                "tripped": guard.tripped,
            }
        return {
            "hooks": {"registered": len(self.hooks), "errors": self._hook_stats.errors},
            "exposures": exposures.stats() if exposures is not None else None,
            "usage": {"enabled": self._usage is not None},
            "guards": guards,
        }

    # --- exposures and usage (flagkit._observe.exposures, flagkit._observe.usage) --------------------------

    def on_exposure(
        self,
        callback: ExposureCallback,
        *,
        window: int | None = None,
        ttl: float | None = None,
        queue_size: int | None = None,
        clock: Callable[[], float] | None = None,
    ) -> ExposureCallback:
        """Call ``callback(exposure)`` off the request path for each new tracked exposure.

        Tracked flags are those with ``track: true`` (or all, with ``Flags(track_all=True)``).
        Exposures are deduplicated per (flag, variant, targeting key) over the last ``window``
        triples (default 10,000), re-reported after ``ttl`` seconds if given, and delivered by
        one daemon thread from a queue of at most ``queue_size`` (default 10,000; a full queue
        drops and counts). The options, when given, apply to every callback. Usable as decorator.
        """
        with self._lock:
            tracker = self._exposures
            if tracker is None:
                tracker = ExposureTracker(window or 10_000, ttl, queue_size or 10_000, clock or time.time)
            else:
                tracker.window = window or tracker.window
                tracker.ttl = ttl if ttl is not None else tracker.ttl
                tracker.queue_size = queue_size or tracker.queue_size
                tracker.clock = clock or tracker.clock
            tracker.callbacks = (*tracker.callbacks, callback)
            if self._exposures is None:
                self._exposures = tracker
                if self._launched:  # else at the first use (see _launch)
                    tracker.start()
                self._publish(self._base)
        return callback

    def flush_exposures(self, timeout: float | None = 5.0) -> bool:
        """Wait until queued exposures are delivered; False on timeout (``close()`` flushes too)."""
        tracker = self._exposures
        return tracker.flush(timeout) if tracker is not None else True

    def enable_usage(self, *, interval: float = 60.0, clock: Callable[[], float] | None = None) -> None:
        """Start counting evaluations (see :meth:`usage`); idempotent.

        Args:
            interval: Resolution of ``last_seen`` in seconds (a daemon thread stamps it).
            clock: Wall-clock source, for tests.
        """
        with self._lock:
            if self._usage is not None:
                return
            recorder = UsageRecorder(interval, clock or time.time)
            if self._launched:  # else at the first use (see _launch), which publishes again
                recorder.start()  # before publishing: the fast lane needs its ticker (running)
            self._usage = recorder
            self._publish(self._base)

    def usage(self) -> dict[str, Any] | None:
        """JSON-safe usage since :meth:`enable_usage`, or ``None`` when not enabled.

        ``{"format", "since", "now", "flags": {key: {"evaluations", "last_seen",
        "variants": {variant: {reason: count}}}}}``; every defined flag is listed, evaluated
        or not. Counts include evaluations as another flag's prerequisite and by ``all_values``.
        """
        recorder = self._usage
        return recorder.snapshot(self.keys()) if recorder is not None else None

    def export_usage(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`usage` to a JSON file (atomic), merged with the file's earlier content.

        For ``flagkit scan --usage`` / ``flagkit validate --usage``. Raises ``RuntimeError``
        when usage is not enabled.
        """
        recorder = self._usage
        if recorder is None:
            raise RuntimeError("usage is not enabled: Flags(..., usage=True) or flags.enable_usage()")
        recorder.export(path, self.keys())

    def on_change(self, listener: ChangeListener) -> ChangeListener:
        """Call ``listener(changed_keys)`` after reloads that change flags. Usable as decorator.

        Each listener runs on a thread of its own (``flagkit-listener``), one call at a time,
        after the new snapshot is published: a slow listener never delays a reload, nor any
        other listener. Changes that pile up while a listener runs arrive as one call with
        the union of their keys. An exception from a listener is logged and ignored.
        """
        self._change_listeners.append(listener)
        self._lanes.add_change(listener)
        self._launch_or_dispatch()
        return listener

    def on_error(self, listener: ErrorListener) -> ErrorListener:
        """Call ``listener(provider_name, error)`` when a provider fails. Usable as decorator.

        Runs on a thread of its own like :meth:`on_change` listeners; errors are not merged
        (beyond 100 waiting for this listener, the oldest are dropped).
        """
        self._error_listeners.append(listener)
        self._lanes.add_error(listener)
        self._launch_or_dispatch()
        return listener

    def on_recover(self, listener: Callable[[str], object]) -> Callable[[str], object]:
        """Call ``listener(provider_name)`` when a provider that was failing (its error in
        ``status()``) delivers good flags again. Usable as decorator.

        Also when they are the very flags it served before (a bad deploy reverted), which
        fire no :meth:`on_change`. Runs on a thread of its own like :meth:`on_change` listeners.
        """
        self._recovery_listeners.append(listener)
        self._lanes.add_recovery(listener)
        self._launch_or_dispatch()
        return listener

    def flush_listeners(self, timeout: float | None = None) -> bool:
        """Wait until every listener call queued so far has returned; False on timeout.

        Useful in tests: after a reload is visible, ``flush_listeners()`` makes its
        ``on_change`` calls visible too.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._dispatcher.flush(timeout):
            return False
        return self._lanes.flush(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until every provider has delivered flags once; False on timeout.

        A first use: starts the background threads in this process (an HTTP provider's
        first fetch among them) if nothing started them yet.
        """
        self._check_fork()
        return self._ready.wait(timeout)

    async def wait_ready_async(self, timeout: float | None = None) -> bool:
        """``await``-able :meth:`wait_ready`: the event loop keeps running meanwhile.

        The wait happens in a worker thread (``asyncio.to_thread``), so other tasks run;
        returns False on timeout. Cancelling the awaiting task stops waiting at once (the
        worker thread ends by itself within ``timeout``, or when the flags are ready or closed).
        """
        self._check_fork()
        if self._ready.is_set():
            return True
        import asyncio

        step = 0.1 if timeout is None else min(timeout, 0.1)
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while True:
            # Short waits, so a cancelled or closed waiter never pins a thread for long.
            if await asyncio.to_thread(self._ready.wait, step):
                return True
            if self._closed:
                return self._ready.is_set()
            if deadline is not None:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    return False
                step = min(step, left)

    async def __aenter__(self) -> Flags:
        """``async with Flags(...) as flags:`` waits (without blocking the loop) for the first load.

        Waits at most :attr:`ASYNC_READY_TIMEOUT` seconds; flags not ready by then evaluate
        to defaults until they load (check :attr:`ready` or :meth:`status`). Closes on exit.
        """
        await self.wait_ready_async(self.ASYNC_READY_TIMEOUT)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        import asyncio

        await asyncio.to_thread(self.close)  # close() joins provider threads: keep it off the loop

    ASYNC_READY_TIMEOUT: float = 30.0
    """How long ``async with Flags(...)`` waits for the first load (seconds); set on the class or instance."""

    @property
    def ready(self) -> bool:
        """True once every provider has delivered flags once."""
        if not self._launched:
            self._launch()
        return self._ready.is_set()

    def status(self) -> dict[str, ProviderStatus]:
        """Health of each provider, keyed by provider name.

        Also checks that every provider's thread is alive: one that died is reported here
        (state ``error``, the reason in ``last_error``) and restarted.
        """
        self._check_fork()
        dead = self._find_dead()
        out: dict[str, ProviderStatus] = {}
        with self._lock:
            for slot in self._slots:
                name, n = slot.provider.name, 1
                while name in out:  # two providers with one name: "file:x", "file:x#2"
                    n += 1
                    name = f"{slot.provider.name}#{n}"
                out[name] = _status_of(name, slot)
        self._restart(dead)
        return out

    @property
    def providers(self) -> tuple[Provider, ...]:
        """The providers, in precedence order."""
        return tuple(slot.provider for slot in self._slots)

    def close(self) -> None:
        """Stop every provider's threads. Idempotent; also called by ``with Flags(...)``."""
        if self._closed:
            return
        self._closed = True
        for slot in self._slots:
            try:
                slot.provider.stop()
            except Exception:
                logger.exception("flagkit: provider %s failed to stop", slot.provider.name)
        if self._exposures is not None:
            self._exposures.close()
        if self._usage is not None:
            self._usage.stop()
            with self._lock:  # no thread folds the tallies now: count the long way (never grows)
                self._publish(self._base)
        deadline = time.monotonic() + 1.0
        self._dispatcher.close(1.0)  # hand what is queued to the lanes (bounded), then end the thread
        self._lanes.close(max(0.0, deadline - time.monotonic()))  # deliver it, in 1 s in all
        _LIVE_CLIENTS.discard(self)

    def __enter__(self) -> Flags:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        names = ", ".join(slot.provider.name for slot in self._slots)
        count = len(self._snapshot.table)
        return f"<Flags [{names}] {count} flag{'' if count == 1 else 's'}>"

    # --- writers ------------------------------------------------------------------------

    def _reporter(self, index: int) -> Callable[[FlagSet | BaseException], None]:
        ref = weakref.ref(self)

        def report(result: FlagSet | BaseException) -> None:
            client = ref()
            if client is not None and not client._closed:
                client._receive(index, result)

        return report

    def _receive(self, index: int, result: FlagSet | BaseException) -> None:
        slot = self._slots[index]
        changed: frozenset[str] = frozenset()
        error_message: str | None = None
        with self._lock:
            if isinstance(result, FlagSet):
                if (slot.error is not None or slot.dead) and self._recovery_listeners:
                    self._dispatcher.put_recovery(slot.provider.name)  # before the change it makes
                slot.dead = False  # its restarted run delivers: status() says so at once
                slot.flagset = result
                slot.error = None
                slot.logged = None
                slot.last_success = time.time()
                changed = self._rebuild()
                if all(s.flagset is not None for s in self._slots):
                    self._ready.set()
                if changed and self._change_listeners:
                    # Queued under the lock, so events keep the order of the snapshots;
                    # delivered by the dispatcher thread, never on this (the reload) thread.
                    self._lanes.put_change(changed)
            else:
                slot.error = result
                slot.error_time = time.time()
                slot.error_count += 1
                message = str(result)
                if slot.logged != message:
                    slot.logged = message
                    error_message = message
                self._notify_error(slot.provider.name, result)
        if error_message is not None:
            kept = "keeping the last good flags" if slot.flagset is not None else "no flags from it yet"
            logger.error("flagkit: provider %s failed (%s): %s", slot.provider.name, kept, error_message)

    def _notify_error(self, name: str, error: BaseException) -> None:
        if self._error_listeners:
            self._lanes.put_error(name, error)

    # --- the dispatcher's side (see flagkit._client.listeners) ----------------------------------

    def _deliver_change(self, keys: frozenset[str]) -> None:
        self._lanes.put_change(keys)  # each listener's own thread calls it

    def _deliver_error(self, name: str, error: BaseException) -> None:
        self._lanes.put_error(name, error)

    def _deliver_recovery(self, name: str) -> None:
        self._lanes.put_recovery(name)

    def _tick(self) -> None:
        if not self._closed and os.getpid() == self._pid:
            self._supervise()

    def _rebuild(self) -> frozenset[str]:
        """Merge the providers' flag sets (first wins) and publish. Caller holds the lock."""
        flags: dict[str, CompiledFlag] = {}
        providers: dict[str, str] = {}
        for slot in reversed(self._slots):
            if slot.flagset is not None:
                flags.update(slot.flagset.flags)
                providers.update(dict.fromkeys(slot.flagset.flags, slot.provider.name))
        old = self._base.flags
        changed = frozenset(
            key
            for key in old.keys() | flags.keys()
            if key not in old or key not in flags or old[key].fingerprint != flags[key].fingerprint
        )
        table = {key: flag.resolve for key, flag in flags.items()}
        self._base = Snapshot(table, flags, self._base.generation + 1, providers)
        self._publish(self._base)
        return changed

    def _publish(self, base: Snapshot) -> None:
        """Apply override layers and observers on top of ``base`` and swap the snapshot.

        Caller holds the lock.
        """
        usage, exposures = self._usage, self._exposures
        if (
            not self._overrides
            and self._hooks is None
            and usage is None
            and exposures is None
            and not self._tripped
        ):
            if self._launched:
                self._snapshot = base
            else:
                self._snapshot = Snapshot(
                    self._launching(base.table), base.flags, base.generation, base.providers
                )
            return
        flags = dict(base.flags)
        providers = dict(base.providers)
        if self._tripped:
            from ..codepaths.guards import tripped_flag

            for key, (until, clock) in self._tripped.items():
                if key in flags:
                    flags[key] = tripped_flag(flags[key], until, clock)
        for _, layer in self._overrides:
            for key, value in layer.items():
                flags[key] = _override_flag(key, value, base.flags.get(key))
                providers[key] = "override"
        table = {key: flag.resolve for key, flag in flags.items()}
        if not self._launched:
            table = self._launching(table)
        observed: dict[str, tuple[Resolver, Observe | None]] = {}
        exposed = False
        if usage is not None or exposures is not None:
            for key, flag in flags.items():  # per flag, once: nothing is looked up per call
                resolve = table[key]
                record = (
                    exposures.recorder(key, flag)
                    if exposures is not None and (self._track_all or _tracked(base.flags.get(key, flag)))
                    else None
                )
                exposed = exposed or record is not None
                observe = observer(usage.counter(key, flag, resolve) if usage is not None else None, record)
                observed[key] = (resolve, observe)
                if observe is not None:
                    table[key] = observing(resolve, observe)  # prerequisites, all_values
        runner = self._hooks
        if any(observe is not None for _, observe in observed.values()):
            # the evaluation methods observe what the caller got (see _observed); with usage
            # alone they append to its tallies themselves (the fast lane of is_enabled and friends)
            lanes = (
                {key: (resolve, usage.tally(key)) for key, (resolve, _) in observed.items()}
                if usage is not None
                and usage.running
                and not exposed
                and (runner is None or not runner.hooks)
                else None
            )
            runner = HookRunner(runner.hooks if runner is not None else (), self._hook_stats, observed, lanes)
        self._snapshot = Snapshot(table, flags, base.generation, providers, runner)

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
            slots = list(self._slots)
        if self._closed:
            return
        if self._exposures is not None:
            self._exposures.after_fork()
        if self._usage is not None:
            self._usage.after_fork()  # fresh locks before _publish below uses them
        for index, slot in enumerate(slots):
            try:
                slot.provider.after_fork(self._reporter(index))
            except Exception:
                logger.exception("flagkit: provider %s failed to restart after fork", slot.provider.name)
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
            slots = list(self._slots)
            usage, exposures = self._usage, self._exposures
        for slot in slots:
            try:
                slot.provider.launch()
            except Exception:
                logger.exception("flagkit: provider %s failed to start", slot.provider.name)
        if exposures is not None:
            exposures.start()
        if usage is not None and not usage.running:
            usage.start()
        if self._change_listeners or self._error_listeners or self._recovery_listeners:
            self._dispatcher.ensure_started()
            self._lanes.start()
        with self._lock:
            self._publish(self._base)  # the plain resolvers from now on

    # --- supervision --------------------------------------------------------------------

    def _supervise(self) -> None:
        """Report and restart every provider whose thread died."""
        self._next_supervision = time.monotonic() + _SUPERVISE_EVERY
        self._restart(self._find_dead())

    def _find_dead(self) -> list[int]:
        """Record each provider whose thread died as failed; return their indexes."""
        if self._closed:
            return []
        dead: list[int] = []
        for index, slot in enumerate(self._slots):
            try:
                reason = slot.provider.failure()
            except Exception as exc:  # a custom provider's bug: treat as alive, say so
                logger.error("flagkit: provider %s failed to report its health: %r", slot.provider.name, exc)
                continue
            if reason is None or slot.dead:
                continue
            error = SourceError(f"its thread died ({reason}); restarting it", slot.provider.name)
            with self._lock:
                if slot.dead:  # another thread (a health check, the dispatcher) found it first
                    continue
                slot.dead = True
                slot.error = error
                slot.error_time = time.time()
                slot.error_count += 1
                slot.logged = str(error)
                slot.restarts += 1
            logger.error("flagkit: %s", error)
            self._notify_error(slot.provider.name, error)
            dead.append(index)
        return dead

    def _restart(self, indexes: list[int]) -> None:
        for index in indexes:
            slot = self._slots[index]
            if self._closed:
                return
            try:
                slot.provider.stop()
                slot.provider.start(self._reporter(index))
            except Exception:
                logger.exception("flagkit: provider %s failed to restart", slot.provider.name)
            with self._lock:
                slot.dead = False  # a thread that dies again is reported (and restarted) again


def _first_use(
    ref: weakref.ref[Flags], resolve: Resolver, ctx: Mapping[str, Any], table: Mapping[str, Any]
) -> Resolution:
    """A resolver published until the client's first use in this process (see ``_launching``)."""
    client = ref()
    if client is not None:
        client._launch()
    return resolve(ctx, table)


_MAX_WARNED = 1000
_NO_CONTEXT: Mapping[str, Any] = {}
_NO_RESOLUTION: Resolution = (object(), None, Reason.ERROR, None)
"""The fast lanes' "the resolver raised": matches no type, so the long way handles it."""
_ERROR = Reason.ERROR  # a global: an enum member lookup costs ~70 ns on CPython 3.11
_KIND_WORDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", dict: "a mapping"}


def _kind_words(value: Any) -> str:
    kind = _kind(value)
    return _KIND_WORDS.get(kind, "a list" if kind is list else f"a {kind.__name__}")


_NOT_CALLERS = frozenset({"flagkit", "openfeature"})


def _call_site() -> str:
    """The module of the nearest caller outside flagkit and the OpenFeature SDK, which calls in
    through the provider (cheap enough for a once-per-key log)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "?")
        if name.partition(".")[0] not in _NOT_CALLERS:
            return f"{name}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]  # None ends the loop
    return "?"


def _kind(value: Any) -> type:
    """The JSON kind of a value: subclasses (e.g. Django's SafeString) count as their base."""
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind
    if isinstance(value, Mapping):
        return dict
    if isinstance(value, list | tuple):
        return list
    return type(value)


def _override_problem(key: str, value: Any, flag: CompiledFlag | None) -> str | None:
    """Why ``value`` cannot override ``flag`` (its callers could not receive it), or None."""
    if flag is None or value is CODE_DEFAULT:
        return None
    served = {_kind(v): _kind_words(v) for v in flag.variants.values() if v is not CODE_DEFAULT}
    kind = _kind(value)
    if not served or kind in served or (kind is int and float in served):
        return None
    caller = "is_enabled() would be False" if set(served) == {bool} else "get_value() returns its default"
    return (
        f"override_flags: flag {key!r} serves {' or '.join(sorted(served.values()))}, not "
        f"{_kind_words(value)} ({value!r}): {caller} and the test would run the default path"
    )


def _coerce(value: Any, default: Any) -> Any:
    """The value when its JSON kind matches the default's (an int for a float default is
    converted); otherwise ``default``. Only reached when the exact types differ."""
    kind = _kind(default)
    if kind is float and type(value) is int:
        return float(value)
    if _kind(value) is kind:
        return value
    return default


def _tracked(flag: CompiledFlag) -> bool:
    return flag.spec is not None and flag.spec.track


def _not_found(key: str, default: T) -> Evaluation[T]:
    return Evaluation(
        key, default, None, Reason.ERROR, None, ErrorCode.FLAG_NOT_FOUND, f"flag {key!r} is not defined"
    )


def _failed(key: str, default: T, exc: Exception) -> Evaluation[T]:
    code = ErrorCode.PARSE_ERROR if isinstance(exc, AttributeError | TypeError) else ErrorCode.GENERAL
    return Evaluation(
        key, default, None, Reason.ERROR, None, code,
        f"evaluation failed: {type(exc).__name__} (is the context a mapping?)",
    )  # fmt: skip


def _typed(
    key: str, default: T, value: Any, variant: str | None, reason: Reason, rule: str | None
) -> Evaluation[T]:
    """Details for a value whose exact type differs from the default's: the caller's default when
    the flag serves ``code_default``, the value coerced, or TYPE_MISMATCH."""
    if value is CODE_DEFAULT:  # the file says: serve what the code passed
        return Evaluation(key, default, None, reason, rule)
    coerced = _coerce(value, default)
    if coerced is not default or _kind(value) is _kind(default):
        return Evaluation(key, coerced, variant, reason, rule)
    return Evaluation(
        key, default, None, Reason.ERROR, rule, ErrorCode.TYPE_MISMATCH,
        f"flag {key!r} serves {_kind_words(value)}, but the default is {_kind_words(default)}",
    )  # fmt: skip


def _override_flag(key: str, value: Any, current: CompiledFlag | None) -> CompiledFlag:
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


def _status_of(name: str, slot: _ProviderSlot) -> ProviderStatus:
    state: State
    if slot.dead:
        state = "error"
    elif slot.flagset is not None:
        state = "stale" if slot.error is not None else "ready"
    else:
        state = "error" if slot.error is not None else "not_ready"
    return ProviderStatus(
        name=name,
        state=state,
        flags=len(slot.flagset.flags) if slot.flagset is not None else 0,
        version=slot.flagset.version if slot.flagset is not None else None,
        last_success=slot.last_success,
        last_error=str(slot.error) if slot.error is not None else None,
        last_error_time=slot.error_time,
        error_count=slot.error_count,
        restarts=slot.restarts,
        document_version=slot.flagset.document_version if slot.flagset is not None else None,
        fresh_at=_fresh_at(slot),
    )


def _fresh_at(slot: _ProviderSlot) -> float | None:
    """The provider's last successful check of its source when it records one, else the
    slot's last load. Not the later of the two: a load is no check when it is a cache served
    because the source cannot be reached (the provider then reports the cache's age)."""
    if slot.flagset is None:
        return None
    checked = slot.provider.fresh_at
    return checked if checked is not None else slot.last_success
