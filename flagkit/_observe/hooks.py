"""Evaluation hooks, shaped like OpenFeature's: ``before``, ``after``, ``error``, ``finally_after``.

A hook is any object with one or more of those methods (subclass :class:`Hook` to get no-op
defaults). ``Flags.add_hook(hook)`` registers it on the client; every evaluation through
``is_enabled``, ``get_value``, ``variant`` and ``evaluate`` then runs::

    before(ctx)                      registration order; may return a mapping merged into the context
    after(ctx, details)              reverse order, when the evaluation did not end in an error
    error(ctx, exception, details)   reverse order, when it did (reason ERROR)
    finally_after(ctx, details)      reverse order, always

``finally`` is a Python keyword, hence ``finally_after`` (the OpenFeature Python SDK's name).
A hook that raises never changes the evaluation: the exception is logged once per hook and
stage, counted in ``Flags.stats()["hooks"]["errors"]``, and the remaining hooks still run.

With no hook registered, nothing here runs: the client keeps ``Snapshot.hooks`` at ``None``
and the hot path tests only that attribute.

Usage counts and exposures (:mod:`flagkit._observe.usage`, :mod:`flagkit._observe.exposures`) ride on the same
test: when either is on, the snapshot's :class:`HookRunner` also holds an *observer* per flag,
``observe(context, resolution)``, which the client calls with what the caller got, after its
type check: the resolution served, or :data:`ERROR_RESOLUTION` when the caller got its own
default because the evaluation failed. The snapshot's resolvers are wrapped with the same
observers (:func:`observing`), so a flag evaluated as another's prerequisite, or by
``all_values``, is observed too.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .._engine.compiler import Resolution, Resolver
from ..evaluation import Evaluation, Reason

__all__ = [
    "ERROR_RESOLUTION",
    "Hook",
    "HookContext",
    "HookRunner",
    "HookStats",
    "Observe",
    "has_stage",
    "observer",
    "observing",
    "read_only",
]

logger = logging.getLogger("flagkit")

STAGES = ("before", "after", "error", "finally_after")


@dataclass(frozen=True, slots=True)
class HookContext:
    """What a hook is told about the evaluation it observes.

    Attributes:
        flag_key: The flag key asked for.
        default_value: The caller's default (``False`` for ``is_enabled``, ``None`` for ``variant``).
        context: The evaluation context in effect (ambient merged with explicit, then with
            whatever ``before`` hooks returned), as a read-only copy: writing to it raises
            ``TypeError`` (return a mapping from ``before`` to add attributes). Nested mappings
            are read-only too, lists are tuples. Contains user data: do not log it wholesale.
        provider_name: Name of the provider that served the flag (``"override"`` for test
            overrides), or ``None`` when no provider defines the flag.
        method: The client method called: ``is_enabled``, ``get_value``, ``variant`` or ``evaluate``.
    """

    flag_key: str
    default_value: Any
    context: Mapping[str, Any]
    provider_name: str | None
    method: str


class Hook:
    """Base class for hooks: every stage is a no-op; override the ones you need.

    Example:
        >>> class CountVariants(Hook):
        ...     def __init__(self) -> None:
        ...         self.seen: dict[tuple[str, str | None], int] = {}
        ...     def after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
        ...         k = (hook_context.flag_key, details.variant)
        ...         self.seen[k] = self.seen.get(k, 0) + 1
        >>> flags.add_hook(CountVariants())
    """

    def before(self, hook_context: HookContext) -> Mapping[str, Any] | None:
        """Called before the flag is resolved; return a mapping to add attributes to the context."""
        return None

    def after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
        """Called after a successful evaluation (any reason but ERROR)."""

    def error(self, hook_context: HookContext, exception: Exception, details: Evaluation[Any]) -> None:
        """Called when the evaluation ends in an error (reason ERROR).

        Args:
            hook_context: The evaluation's context.
            exception: What went wrong: :class:`~flagkit.FlagNotFoundError` for an unknown
                flag, :class:`TypeError` for a value of the wrong type, or the exception the
                resolver raised (e.g. for a context that is not a mapping).
            details: The error evaluation returned to the caller (``error_code``, ``error_message``).
        """

    def finally_after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
        """Called last, for every evaluation, with the details returned to the caller."""


class HookStats:
    """Counts and once-only logging of hook failures; shared by a client's runners (thread-safe)."""

    __slots__ = ("_lock", "_logged", "errors")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logged: set[tuple[int, str]] = set()
        self.errors = 0

    def failed(self, hook: object, stage: str) -> None:
        """Record that ``hook``'s ``stage`` raised; log the traceback the first time only."""
        ident = (id(hook), stage)
        with self._lock:
            self.errors += 1
            first = ident not in self._logged
            if first:
                self._logged.add(ident)
        if first:
            logger.exception(
                "flagkit: hook %s.%s failed (evaluation unaffected; later failures are counted, not logged)",
                type(hook).__name__,
                stage,
            )


def _stage(hook: object, name: str) -> Callable[..., Any] | None:
    """The hook's bound method for ``name``, or None when absent or the inherited no-op."""
    method = getattr(hook, name, None)
    if method is None or not callable(method):
        return None
    if getattr(type(hook), name, None) is getattr(Hook, name):
        return None  # the base class's no-op: skip the call
    return method  # type: ignore[no-any-return]  # a callable attribute of the hook


Observe = Callable[[Mapping[str, Any], Resolution], None]
"""Records one evaluation of a flag as the caller got it: ``observe(context, resolution)``."""

ERROR_RESOLUTION: Resolution = (None, "", Reason.ERROR, None)
"""What observers are given for a failed evaluation (the caller got its own default): no
value, the variant ``""``, reason ``ERROR``."""


def observer(*observers: Observe | None) -> Observe | None:
    """One observer calling each given one in turn (``None`` entries skipped), or ``None``."""
    present = [o for o in observers if o is not None]
    if len(present) < 2:
        return present[0] if present else None
    first, second = present  # usage and exposures: the only two there are

    def both(ctx: Mapping[str, Any], res: Resolution) -> None:
        first(ctx, res)
        second(ctx, res)

    return both


def observing(resolve: Resolver, observe: Observe) -> Resolver:
    """``resolve`` observed: for the snapshot's table, where a flag is evaluated as another
    flag's prerequisite or by ``all_values``/``bootstrap`` (the caller takes the value as is)."""

    def observed(ctx: Mapping[str, Any], table: Mapping[str, Any]) -> Resolution:
        res = resolve(ctx, table)
        observe(ctx, res)
        return res

    return observed


Evaluator = Callable[[Mapping[str, Any]], tuple[Evaluation[Any], Exception | None]]
"""Resolve the flag for a context: ``(details, exception)``; the exception is set for errors."""


class HookRunner:
    """The registered hooks, split by stage, and the observers (usage counts, exposures) per
    flag key; immutable (the client builds a new one per change).

    Args:
        hooks: The hooks, in registration order (empty when only observers are on).
        stats: Failure counts, shared by the client's runners.
        observed: With observers on, every flag key → its resolver (not observed) and its
            observer (``None`` for a flag nobody observes); empty otherwise.
        lanes: When usage counting is the only observer (no hook, no exposure): every flag
            key → its resolver (not observed) and its usage tally (a list the evaluation
            methods append the resolution to themselves: the fast lane, see
            :meth:`flagkit._observe.usage.UsageRecorder.tally`); empty otherwise.
    """

    __slots__ = ("_after", "_before", "_error", "_finally", "hooks", "lanes", "observed", "stats")

    def __init__(
        self,
        hooks: tuple[object, ...],
        stats: HookStats,
        observed: Mapping[str, tuple[Resolver, Observe | None]] | None = None,
        lanes: Mapping[str, tuple[Resolver, list[Any]]] | None = None,
    ) -> None:
        self.hooks = hooks
        self.stats = stats
        self.observed: Mapping[str, tuple[Resolver, Observe | None]] = observed or {}
        self.lanes: Mapping[str, tuple[Resolver, list[Any]]] = (lanes or {}) if not hooks else {}
        pairs = [(h, {s: _stage(h, s) for s in STAGES}) for h in hooks]
        self._before = tuple((h, m["before"]) for h, m in pairs if m["before"] is not None)
        self._after = tuple((h, m["after"]) for h, m in reversed(pairs) if m["after"] is not None)
        self._error = tuple((h, m["error"]) for h, m in reversed(pairs) if m["error"] is not None)
        self._finally = tuple(
            (h, m["finally_after"]) for h, m in reversed(pairs) if m["finally_after"] is not None
        )

    def run(
        self,
        flag_key: str,
        default_value: Any,
        context: Mapping[str, Any],
        provider_name: str | None,
        method: str,
        evaluate: Evaluator,
    ) -> Evaluation[Any]:
        """Run the stages around ``evaluate(context)``; hook failures never reach the caller.

        The hooks see the context as a read-only copy (:func:`read_only`) and the details as
        their own copy: a hook writing to them raises (counted as its failure) or changes its
        copy, never the caller's dict, its answer, another request's context or the module's
        default; the evaluation reads ``context`` itself.
        """
        ctx = context
        hc = HookContext(flag_key, default_value, read_only(ctx), provider_name, method)
        if self._before:
            added: dict[str, Any] | None = None
            for hook, before in self._before:
                try:
                    extra = before(hc)
                    if extra:
                        added = {**(added or {}), **extra}
                except Exception:
                    self.stats.failed(hook, "before")
            if added and isinstance(ctx, Mapping):  # not a mapping: the evaluation fails anyway
                ctx = {**ctx, **added}
                hc = HookContext(flag_key, default_value, read_only(ctx), provider_name, method)
        details, exception = evaluate(ctx)
        # the hooks' own copy: a hook writing to it cannot change what the caller gets
        seen = _copy_for_hooks(details) if self._after or self._error or self._finally else details
        if exception is None:
            for hook, after in self._after:
                try:
                    after(hc, seen)
                except Exception:
                    self.stats.failed(hook, "after")
        else:
            for hook, error in self._error:
                try:
                    error(hc, exception, seen)
                except Exception:
                    self.stats.failed(hook, "error")
        for hook, final in self._finally:
            try:
                final(hc, seen)
            except Exception:
                self.stats.failed(hook, "finally_after")
        return details


_NESTED = (Mapping, list, tuple, set, frozenset)
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_CONTAINERS = frozenset({dict, list})
_FLAT = frozenset({str, int, float, bool, type(None)})
"""Types tested first by :func:`read_only` (an ``isinstance`` against ``Mapping`` is slow)."""


def _copy_for_hooks(details: Evaluation[Any]) -> Evaluation[Any]:
    """The hooks' own copy of ``details`` (an ``Evaluation`` is mutable, for speed), the value
    deep-copied when it is a container."""
    value = details.value
    if type(value) in _CONTAINERS:
        value = copy.deepcopy(value)
    return Evaluation(
        details.key,
        value,
        details.variant,
        details.reason,
        details.rule,
        details.error_code,
        details.error_message,
    )


def read_only(context: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy of ``context`` for user code: a ``MappingProxyType`` over a copy, its
    nested mappings read-only too, lists and tuples as tuples, sets as frozensets.

    A copy, not a view: the caller may change its own dict after the evaluation, and a hook
    keeping the context must not see that. (A flat context costs one dict copy.)
    """
    if type(context) is dict:
        copied = context.copy()
    elif isinstance(context, Mapping):
        copied = dict(context)
    else:
        return _EMPTY  # not a mapping (the evaluation fails): nothing to show
    for value in copied.values():
        if type(value) not in _FLAT:
            break
    else:
        return MappingProxyType(copied)  # the usual case: flat values
    for key, value in copied.items():
        if type(value) not in _FLAT and isinstance(value, _NESTED):
            copied[key] = _frozen(value)  # an existing key: the dict's size does not change
    return MappingProxyType(copied)


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return read_only(value)
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, set | frozenset):
        return frozenset(value)
    return value


def has_stage(hook: object) -> bool:
    """True when ``hook`` defines at least one stage method."""
    return any(callable(getattr(hook, s, None)) for s in STAGES)
