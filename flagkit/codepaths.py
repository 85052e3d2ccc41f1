"""Switch code paths on flags: ``when`` and ``variants`` decorators.

Both evaluate the flag on every call (never at import time), keep the wrapped function's
name, docstring and signature, and work on plain functions, methods and ``async def``
functions (the awaited result is switched, not the coroutine object).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .client import Flags

__all__ = ["VariantDispatcher", "variants", "when"]

F = TypeVar("F", bound=Callable[..., Any])


def when(flags: Flags, key: str, otherwise: Callable[..., Any] | None = None) -> Callable[[F], F]:
    """Call the decorated function when ``key`` is on, else ``otherwise`` with the same arguments.

    Without ``otherwise`` the call returns ``None`` when the flag is off. Context comes from
    the ambient context (``flags.context(...)`` or the web middleware).

    Example:
        >>> @flags.when("new_checkout", otherwise=render_old_checkout)
        ... def render_new_checkout(cart): ...
    """

    def decorate(func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_switch(*args: Any, **kwargs: Any) -> Any:
                if flags.is_enabled(key):
                    return await func(*args, **kwargs)
                if otherwise is None:
                    return None
                result = otherwise(*args, **kwargs)
                return await result if inspect.isawaitable(result) else result

            return async_switch  # type: ignore[return-value]  # same signature via wraps

        @functools.wraps(func)
        def switch(*args: Any, **kwargs: Any) -> Any:
            if flags.is_enabled(key):
                return func(*args, **kwargs)
            return None if otherwise is None else otherwise(*args, **kwargs)

        return switch  # type: ignore[return-value]  # same signature via wraps

    return decorate


class VariantDispatcher:
    """A function that dispatches to an implementation per variant of a flag.

    The decorated function is the default implementation, used for variants without one,
    unknown flags and errors. Register others with ``@dispatcher.variant("name")``.
    """

    def __init__(self, flags: Flags, key: str, default: Callable[..., Any]) -> None:
        self._flags = flags
        self._key = key
        self._default = default
        self._impls: dict[str, Callable[..., Any]] = {}
        self._is_async = inspect.iscoroutinefunction(default)
        functools.update_wrapper(self, default)

    @property
    def implementations(self) -> dict[str, Callable[..., Any]]:
        """Variant name → registered implementation."""
        return dict(self._impls)

    def variant(self, *names: str) -> Callable[[F], F]:
        """Register the decorated function for one or more variant names."""
        if not names:
            raise TypeError("variant() needs at least one variant name")

        def register(func: F) -> F:
            for name in names:
                self._impls[name] = func
            return func

        return register

    def resolve(self) -> Callable[..., Any]:
        """The implementation the current context selects."""
        name = self._flags.variant(self._key)
        return self._impls.get(name, self._default) if name is not None else self._default

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        impl = self.resolve()
        if self._is_async:
            return _await_any(impl(*args, **kwargs))
        return impl(*args, **kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return functools.partial(self.__call__, instance)


async def _await_any(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


def variants(flags: Flags, key: str) -> Callable[[Callable[..., Any]], VariantDispatcher]:
    """Decorator: make the function the default of a :class:`VariantDispatcher` on ``key``."""

    def decorate(func: Callable[..., Any]) -> VariantDispatcher:
        return VariantDispatcher(flags, key, func)

    return decorate
