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
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .evaluation import Evaluation

__all__ = ["Hook", "HookContext", "HookRunner", "HookStats", "has_stage"]

logger = logging.getLogger("flagkit")

STAGES = ("before", "after", "error", "finally_after")


@dataclass(frozen=True, slots=True)
class HookContext:
    """What a hook is told about the evaluation it observes.

    Attributes:
        flag_key: The flag key asked for.
        default_value: The caller's default (``False`` for ``is_enabled``, ``None`` for ``variant``).
        context: The evaluation context in effect (ambient merged with explicit, then with
            whatever ``before`` hooks returned). Contains user data: do not log it wholesale.
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


Evaluator = Callable[[Mapping[str, Any]], tuple[Evaluation[Any], Exception | None]]
"""Resolve the flag for a context: ``(details, exception)``; the exception is set for errors."""


class HookRunner:
    """The registered hooks, split by stage; immutable (the client builds a new one per change)."""

    __slots__ = ("_after", "_before", "_error", "_finally", "hooks", "stats")

    def __init__(self, hooks: tuple[object, ...], stats: HookStats) -> None:
        self.hooks = hooks
        self.stats = stats
        pairs = [(h, {s: _stage(h, s) for s in STAGES}) for h in hooks]
        self._before = tuple((h, m["before"]) for h, m in pairs if m["before"] is not None)
        self._after = tuple((h, m["after"]) for h, m in reversed(pairs) if m["after"] is not None)
        self._error = tuple((h, m["error"]) for h, m in reversed(pairs) if m["error"] is not None)
        self._finally = tuple(
            (h, m["finally_after"]) for h, m in reversed(pairs) if m["finally_after"] is not None
        )

    def run(self, hook_context: HookContext, evaluate: Evaluator) -> Evaluation[Any]:
        """Run the stages around ``evaluate``; hook failures never reach the caller."""
        hc = hook_context
        if self._before:
            added: dict[str, Any] | None = None
            for hook, before in self._before:
                try:
                    extra = before(hc)
                    if extra:
                        added = {**(added or {}), **extra}
                except Exception:
                    self.stats.failed(hook, "before")
            if added:
                merged = {**hc.context, **added}
                hc = HookContext(hc.flag_key, hc.default_value, merged, hc.provider_name, hc.method)
        details, exception = evaluate(hc.context)
        if exception is None:
            for hook, after in self._after:
                try:
                    after(hc, details)
                except Exception:
                    self.stats.failed(hook, "after")
        else:
            for hook, error in self._error:
                try:
                    error(hc, exception, details)
                except Exception:
                    self.stats.failed(hook, "error")
        for hook, final in self._finally:
            try:
                final(hc, details)
            except Exception:
                self.stats.failed(hook, "finally_after")
        return details


def has_stage(hook: object) -> bool:
    """True when ``hook`` defines at least one stage method."""
    return any(callable(getattr(hook, s, None)) for s in STAGES)
