"""Flags: the client application code calls.

``Flags`` is small: its public methods, each (off the hot path) a one-line delegation to a
collaborator with one job:

- :mod:`.core`: the evaluation methods (``is_enabled``, ``get_value``, ``variant``,
  ``evaluate``), generated from one template; the hot path reads ``_snapshot`` directly.
- :mod:`.snapshot`: the immutable merged view the hot path reads, built by pure functions.
- :mod:`.supervisor`: the providers' slots, their status, readiness and restarts.
- :mod:`.lifecycle`: first-use launch of the threads, fork handling, supervision timing.
- :mod:`.layers`: test overrides and guard trips (the guards' :class:`~.layers.TripSwitch`).
- :mod:`.observation`: hooks, usage counts, exposures.
- :mod:`.listeners`: ``on_change``/``on_error``/``on_recover`` delivery.
- :mod:`.shapes`: the code-path API's types; :mod:`flagkit.codepaths` implements it.

Writers (providers reporting, overrides) build a new :class:`Snapshot` under a lock and
publish it with a single attribute assignment.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .._context import context
from .._engine.compiler import CompiledFlag
from .._observe.exposures import ExposureCallback
from .._observe.usage import UsageRecorder
from ..errors import SourceError
from ..flagset import FlagSet
from ..providers.base import Provider
from .core import Core, merge
from .layers import Layers, TripSwitch
from .lifecycle import _LIVE_CLIENTS, Lifecycle, reporter_of, weakly  # _LIVE_CLIENTS: the tests' leak checks
from .listeners import ChangeListener, Dispatcher, ErrorListener, ListenerLanes
from .observation import Observation
from .problems import Warnings, override_problem
from .problems import kind_words as _kind_words  # re-exported: flagkit.integrations.openfeature
from .shapes import CodePathMethods
from .snapshot import EMPTY_SNAPSHOT, Snapshot, evaluate_all, read_only
from .supervisor import ProviderStatus, State, Supervisor

if TYPE_CHECKING:
    from .._tools.trace import Explanation  # the tool loads with the method's first call

__all__ = ["_LIVE_CLIENTS", "Flags", "ProviderStatus", "Snapshot", "State", "_kind_words"]

logger = logging.getLogger("flagkit")

T = TypeVar("T")
H = TypeVar("H")
P = ParamSpec("P")
R = TypeVar("R")


class Flags(CodePathMethods, Lifecycle, Core):
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
        self._warnings = Warnings()  # (problem, key) logged once
        self._lock = threading.RLock()
        self._supervisor = Supervisor(providers, self._lock, reporter_of(weakref.ref(self)))
        self._base: Snapshot = EMPTY_SNAPSHOT
        self._snapshot: Snapshot = EMPTY_SNAPSHOT
        self._layers = Layers(self._lock, weakly(self, Flags._republish), weakly(self, Flags._notify_error))
        self._observation = Observation(self._lock, track_all=track_all)
        self._change_listeners: list[ChangeListener] = []
        self._error_listeners: list[ErrorListener] = []
        self._recovery_listeners: list[Callable[[str], object]] = []
        self._dispatcher = Dispatcher(self)
        self._lanes = ListenerLanes()  # a thread per listener: one slow listener delays no other
        self._pin: ContextVar[Snapshot | None] = ContextVar(f"flagkit_pin_{id(self)}", default=None)
        self._pins = 0
        self._start_lifecycle()
        if usage:
            self.enable_usage()
        try:
            self._supervisor.start(self)
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
        flags = cls(FileProvider(path, watch=watch), strict=strict, usage=usage, track_all=track_all)
        slot = flags._supervisor.slots[0]
        if slot.flagset is None and slot.error is not None:
            flags.close()
            raise slot.error
        return flags

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, strict: bool = False, usage: bool = False, track_all: bool = False
    ) -> Flags:
        """Flags from an in-memory mapping in the flag file format (see :class:`DictProvider`)."""
        from ..providers.dict import DictProvider

        return cls(DictProvider(data), strict=strict, usage=usage, track_all=track_all)

    # --- evaluation: is_enabled, get_value, variant, evaluate (flagkit._client.core) ----

    def all_values(self, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``{key: value}`` for every flag (e.g. to bootstrap a front end). Errors, and flags that
        serve the caller's default (``code_default``), are left out."""
        self._check_fork()
        return evaluate_all(self._current(), context, merge)

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
            ctx = merge(context)
        except Exception:  # a context that is not a mapping: nothing can be evaluated
            return {}
        return bootstrap_values(snap.table, snap.flags, self._base.flags, ctx, self._warnings.not_json)

    def keys(self) -> list[str]:
        """Every flag key currently defined (overrides included), sorted."""
        return sorted(self._current().table)

    def get_flag(self, key: str) -> CompiledFlag | None:
        """The compiled flag (definition, variants, source) for tools, or ``None``."""
        return self._current().flags.get(key)

    def explain(self, key: str, context: Mapping[str, Any] | None = None) -> Explanation:
        """Evaluate ``key`` and trace every step: prerequisites, each rule's conditions with the
        values they saw, the split's bucket (for a person debugging; not for the hot path).

        The context is merged over the ambient context as :meth:`evaluate` merges it, and the
        answer (``value``, ``variant``, ``reason``, ``rule``) is the one the current (or pinned)
        snapshot serves, test overrides, QA overrides and tripped guards included;
        ``consistent`` says the trace leads there. It runs no hooks, counts no usage and
        records no exposure, and never raises: an unknown key or a failed evaluation gives
        ``kind="error"`` with reason ``ERROR`` and an ``error_code``.
        """
        from .._tools.explain import explain_served  # a tool, loaded only when asked for

        self._check_fork()
        return explain_served(key, self._current().flags, self.flagsets(), lambda: merge(context))

    def flagsets(self) -> list[FlagSet]:
        """The flag set each provider serves (in precedence order; providers that have not
        loaded yet are left out): whole documents, segments included, e.g. to explain a flag."""
        with self._lock:
            return self._supervisor.flagsets()

    def _current(self) -> Snapshot:
        return self._snapshot if not self._pins else (self._pin.get() or self._snapshot)

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
            yield read_only(snap)
        finally:
            self._pin.reset(token)
            with self._lock:
                self._pins = max(0, self._pins - 1)  # a fork inside the block reset it

    @property
    def layers(self) -> TripSwitch:
        """The guard trips of this client, for :mod:`flagkit.codepaths.guards` (not for
        applications: a :class:`~flagkit.Guard` trips and restores its flag)."""
        return self._layers

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
            problem = override_problem(key, value, flags.get(key))
            if problem:
                raise TypeError(problem)
        return self._layers.push(values)

    def pop_overrides(self, handle: object) -> None:
        """Remove an override layer added by :meth:`push_overrides`."""
        self._layers.pop(handle)

    # --- observation (flagkit._client.observation) --------------------------------------

    def add_hook(self, hook: H) -> H:
        """Run ``hook`` around every evaluation of this client (see :mod:`flagkit._observe.hooks`).

        The hook is any object with one or more of ``before``, ``after``, ``error`` and
        ``finally_after`` (subclass :class:`~flagkit.Hook`). Returns the hook. Adding the same
        hook twice runs it twice.
        """
        with self._lock:
            self._observation.add_hook(hook)
            self._publish(self._base)
        return hook

    def remove_hook(self, hook: object) -> None:
        """Stop running ``hook`` (its latest registration); no-op if it is not registered."""
        with self._lock:
            if self._observation.remove_hook(hook):
                self._publish(self._base)

    @property
    def hooks(self) -> tuple[object, ...]:
        """The registered hooks, in registration order."""
        return self._observation.hook_list

    def stats(self) -> dict[str, Any]:
        """JSON-safe counters of hooks, exposures, usage and guards (see docs/observing.md)."""
        return self._observation.stats(self._layers.guards)

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
        self._observation.add_exposure_callback(self, callback, window, ttl, queue_size, clock)
        return callback

    def flush_exposures(self, timeout: float | None = 5.0) -> bool:
        """Wait until queued exposures are delivered; False on timeout (``close()`` flushes too)."""
        tracker = self._observation.exposures
        return tracker.flush(timeout) if tracker is not None else True

    def enable_usage(self, *, interval: float = 60.0, clock: Callable[[], float] | None = None) -> None:
        """Start counting evaluations (see :meth:`usage`); idempotent.

        Args:
            interval: Resolution of ``last_seen`` in seconds (a daemon thread stamps it).
            clock: Wall-clock source, for tests.
        """
        self._observation.enable_usage(self, interval, clock)

    @property
    def _usage(self) -> UsageRecorder | None:  # the usage tests install a recorder of their own
        return self._observation.usage

    @_usage.setter
    def _usage(self, recorder: UsageRecorder | None) -> None:
        self._observation.usage = recorder

    def usage(self) -> dict[str, Any] | None:
        """JSON-safe usage since :meth:`enable_usage`, or ``None`` when not enabled.

        ``{"format", "since", "now", "flags": {key: {"evaluations", "last_seen",
        "variants": {variant: {reason: count}}}}}``; every defined flag is listed, evaluated
        or not. Counts include evaluations as another flag's prerequisite and by ``all_values``.
        """
        recorder = self._observation.usage
        return recorder.snapshot(self.keys()) if recorder is not None else None

    def export_usage(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`usage` to a JSON file (atomic), merged with the file's earlier content.

        For ``flagkit scan --usage`` / ``flagkit validate --usage``. Raises ``RuntimeError``
        when usage is not enabled.
        """
        recorder = self._observation.usage
        if recorder is None:
            raise RuntimeError("usage is not enabled: Flags(..., usage=True) or flags.enable_usage()")
        recorder.export(path, self.keys())

    # --- listeners (flagkit._client.listeners) -------------------------------------------

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

    # --- readiness and health (flagkit._client.supervisor) -------------------------------

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until every provider has delivered flags once; False on timeout.

        A first use: starts the background threads in this process (an HTTP provider's
        first fetch among them) if nothing started them yet.
        """
        self._check_fork()
        return self._supervisor.ready.wait(timeout)

    async def wait_ready_async(self, timeout: float | None = None) -> bool:
        """``await``-able :meth:`wait_ready`: the event loop keeps running meanwhile.

        The wait happens in a worker thread (``asyncio.to_thread``), so other tasks run;
        returns False on timeout. Cancelling the awaiting task stops waiting at once (the
        worker thread ends by itself within ``timeout``, or when the flags are ready or closed).
        """
        self._check_fork()
        return await self._supervisor.wait_ready_async(timeout, lambda: self._closed)

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
        return self._supervisor.ready.is_set()

    def status(self) -> dict[str, ProviderStatus]:
        """Health of each provider, keyed by provider name.

        Also checks that every provider's thread is alive: one that died is reported here
        (state ``error``, the reason in ``last_error``) and restarted.
        """
        self._check_fork()
        dead = self._find_dead()
        out = self._supervisor.status()
        self._restart(dead)
        return out

    @property
    def providers(self) -> tuple[Provider, ...]:
        """The providers, in precedence order."""
        return self._supervisor.providers

    def close(self) -> None:
        """Stop every provider's threads. Idempotent; also called by ``with Flags(...)``."""
        self._shut_down()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran: the client serves its last flags with no thread running."""
        return self._closed

    def __enter__(self) -> Flags:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        names = ", ".join(provider.name for provider in self._supervisor.providers)
        count = len(self._snapshot.table)
        return f"<Flags [{names}] {count} flag{'' if count == 1 else 's'}>"
