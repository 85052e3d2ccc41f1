"""``when`` and ``variants``: the decorators that switch code paths on a flag (re-exported by
:mod:`flagkit.codepaths`, which documents them; :mod:`flagkit.codepaths.guards` builds on them)."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, Protocol, TypeVar, cast, overload

from .._client.shapes import (
    CallContext,
    OptionalSwitch,
    Switch,
    VariantDispatcher,
)

__all__ = ["SupportsEvaluation", "variants", "when"]

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")


class SupportsEvaluation(Protocol):
    """What the decorators need from a client (:class:`~flagkit.Flags` has it)."""

    def is_enabled(self, key: str, context: Mapping[str, Any] | None = None) -> bool: ...

    def variant(self, key: str, context: Mapping[str, Any] | None = None) -> str | None: ...


def _context_for(context: CallContext) -> Callable[..., Mapping[str, Any] | None] | None:
    """Turn the ``context`` argument into ``(*args, **kwargs) -> mapping`` (``None``: ambient only)."""
    if context is None:
        return None
    if isinstance(context, Mapping):
        fixed: Mapping[str, Any] = context
        return lambda *args, **kwargs: fixed
    if callable(context):
        return context
    raise TypeError(f"context must be a mapping or a callable, got {type(context).__name__}")


@overload
def when(
    flags: SupportsEvaluation, key: str, otherwise: None = None, *, context: CallContext = None
) -> OptionalSwitch: ...


@overload
def when(
    flags: SupportsEvaluation, key: str, otherwise: Callable[P, R], *, context: CallContext = None
) -> Switch[P, R]: ...


def when(
    flags: SupportsEvaluation,
    key: str,
    otherwise: Callable[..., Any] | None = None,
    *,
    context: CallContext = None,
) -> Switch[Any, Any] | OptionalSwitch:
    """Call the decorated function when ``key`` is on, else ``otherwise`` with the same arguments.

    Without ``otherwise`` the call returns ``None`` when the flag is off, and is typed so
    (:class:`OptionalSwitch`: ``T`` becomes ``T | None``). With it, the decorated function
    keeps its type and must match ``otherwise``'s signature (:class:`Switch`). For an
    ``async def`` function, ``otherwise`` may be sync or async; its result is awaited if needed.

    Args:
        flags: The client that evaluates the flag.
        key: The boolean flag that selects the new code path.
        otherwise: The old code path, called with the same arguments when the flag is off.
        context: Explicit context merged over the ambient context: a mapping, or a callable
            receiving the call's arguments (``self`` included for methods).

    Example:
        >>> @flags.when("new_checkout", otherwise=render_old_checkout)
        ... def render_new_checkout(cart): ...
    """
    if otherwise is not None and not callable(otherwise):
        raise TypeError(f"otherwise must be callable, got {type(otherwise).__name__}")
    context_of = _context_for(context)
    is_enabled = flags.is_enabled

    def decorate(func: F) -> F:
        if not callable(func):
            raise TypeError(f"when() decorates a callable, got {type(func).__name__}")
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_switch(*args: Any, **kwargs: Any) -> Any:
                if is_enabled(key, None if context_of is None else context_of(*args, **kwargs)):
                    return await func(*args, **kwargs)
                if otherwise is None:
                    return None
                result = otherwise(*args, **kwargs)
                return await result if inspect.isawaitable(result) else result

            return async_switch  # type: ignore[return-value]  # same signature via wraps

        @functools.wraps(func)
        def switch(*args: Any, **kwargs: Any) -> Any:
            if is_enabled(key, None if context_of is None else context_of(*args, **kwargs)):
                return func(*args, **kwargs)
            return None if otherwise is None else otherwise(*args, **kwargs)

        return switch  # type: ignore[return-value]  # same signature via wraps

    return cast(Switch[Any, Any], decorate)


def _dispatcher(
    flags: SupportsEvaluation, key: str, default: Callable[P, R], context: CallContext
) -> VariantDispatcher[P, R]:
    """Build the dispatching function for :func:`variants` (see :class:`VariantDispatcher`)."""
    if not callable(default):
        raise TypeError(f"variants() decorates a callable, got {type(default).__name__}")
    context_of = _context_for(context)
    impls: dict[str, Callable[..., Any]] = {}
    variant_of = flags.variant

    def resolve(*args: Any, **kwargs: Any) -> Callable[..., Any]:
        name = variant_of(key, None if context_of is None else context_of(*args, **kwargs))
        if name is None:
            return default
        return impls.get(name, default)

    def variant(*names: str) -> Callable[[F], F]:
        if not names:
            raise TypeError("variant() needs at least one variant name")

        def register(func: F) -> F:
            if not callable(func):
                raise TypeError(f"variant() registers a callable, got {type(func).__name__}")
            for name in names:
                impls[name] = func
            return func

        return register

    dispatch: Callable[..., Any]
    if inspect.iscoroutinefunction(default):

        @functools.wraps(default)
        async def async_dispatch(*args: Any, **kwargs: Any) -> Any:
            result = resolve(*args, **kwargs)(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        dispatch = async_dispatch
    else:

        @functools.wraps(default)
        def sync_dispatch(*args: Any, **kwargs: Any) -> Any:
            return resolve(*args, **kwargs)(*args, **kwargs)

        dispatch = sync_dispatch

    resolve.__doc__ = VariantDispatcher.resolve.__doc__
    variant.__doc__ = VariantDispatcher.variant.__doc__
    # Plain function attributes: mypy cannot see them on a function, hence setattr + cast.
    for name, value in (
        ("key", key),
        ("implementations", types.MappingProxyType(impls)),
        ("variant", variant),
        ("resolve", resolve),
    ):
        setattr(dispatch, name, value)
    return cast(VariantDispatcher[P, R], dispatch)


def variants(
    flags: SupportsEvaluation, key: str, *, context: CallContext = None
) -> Callable[[Callable[P, R]], VariantDispatcher[P, R]]:
    """Decorator: make the function the default implementation of a dispatcher on ``key``.

    Returns a :class:`VariantDispatcher`: a function (``async def`` for an ``async def``
    default) with the default's name, docstring and signature, plus ``variant``, ``resolve``,
    ``implementations`` and ``key``. For an ``async def`` default, variant implementations may
    be sync or async (the result is awaited if needed).

    Args:
        flags: The client that evaluates the flag.
        key: The flag whose variant name selects the implementation.
        context: Explicit context merged over the ambient context (see :func:`when`).
    """

    def decorate(func: Callable[P, R]) -> VariantDispatcher[P, R]:
        return _dispatcher(flags, key, func, context)

    return decorate
