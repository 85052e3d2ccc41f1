"""``override_flags`` and ``FlagOverrides``: public as :mod:`flagkit.testing` (see its docstring)."""

from __future__ import annotations

import functools
import inspect
import threading
import unittest
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar, overload

from .._client.flags import Flags
from .._default import get_client, pop_default_overrides, push_default_overrides

__all__ = ["FlagOverrides", "override_flags"]

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


_Handle = tuple[Flags | None, object]
"""(client, handle): ``None`` for an override of the default client, which follows configure()."""


def _push(flags: Flags | None, values: Mapping[str, Any]) -> _Handle:
    if flags is None:
        return None, push_default_overrides(values)
    return flags, flags.push_overrides(values)


def _pop(handle: _Handle) -> None:
    flags, inner = handle
    if flags is None:
        pop_default_overrides(inner)
    else:
        flags.pop_overrides(inner)


class override_flags:
    """Serve fixed values for some flags while a block, test function or test class runs.

    Args:
        flags: The client to override; omitted or ``None`` means the module-level default
            client (:func:`flagkit.configure`), also one configured later while active. A
            mapping here is taken as ``values`` for the default client.
        values: Overrides as a mapping, for keys that are not Python identifiers
            (``{"checkout-v2": True}``).
        **overrides: Flag key → value to serve.

    Examples:
        >>> with override_flags(flags, new_checkout=True, button_color="green"):
        ...     assert flags.is_enabled("new_checkout")

        >>> @override_flags(flags, new_checkout=False)
        ... def test_old_checkout(): ...

        >>> @override_flags(new_checkout=True)      # the default client
        ... class CheckoutTests(unittest.TestCase): ...

    On a ``unittest.TestCase`` class the override is active from ``setUp`` to the end of each
    test's cleanups; on another class, around each ``test*`` method.
    """

    def __init__(
        self,
        flags: Flags | Mapping[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
        /,
        **overrides: Any,
    ) -> None:
        if flags is not None and not isinstance(flags, Flags):
            if isinstance(flags, Mapping) and values is None:
                flags, values = None, flags
            else:
                raise TypeError(f"override_flags() expects a flagkit.Flags, got {type(flags).__name__}")
        merged = dict(values or {})
        merged.update(overrides)
        for key in merged:
            if not isinstance(key, str):
                raise TypeError(f"flag keys must be strings, got {type(key).__name__}")
        self._flags = flags
        self.values: dict[str, Any] = merged
        self._handles: list[_Handle] = []
        self._handles_lock = threading.Lock()

    @property
    def flags(self) -> Flags:
        """The client the overrides apply to."""
        return self._flags if self._flags is not None else get_client()

    # --- context manager ---------------------------------------------------------------

    def enable(self) -> Flags:
        """Start overriding (what ``__enter__`` does); pair with :meth:`disable`.

        Returns:
            The client the overrides apply to.
        """
        handle = self._activate()
        with self._handles_lock:
            self._handles.append(handle)
        return self.flags

    def disable(self) -> None:
        """Undo the most recent :meth:`enable`."""
        with self._handles_lock:
            if not self._handles:
                raise RuntimeError("override_flags.disable() called without enable()")
            handle = self._handles.pop()
        _pop(handle)

    def __enter__(self) -> Flags:
        return self.enable()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disable()

    # --- decorator ---------------------------------------------------------------------

    @overload
    def __call__(self, target: C) -> C: ...

    @overload
    def __call__(self, target: F) -> F: ...

    def __call__(self, target: Any) -> Any:
        if isinstance(target, type):
            return self._decorate_class(target)
        if not callable(target):
            raise TypeError(f"override_flags decorates functions and classes, not {type(target).__name__}")
        return self._decorate_function(target)

    def _activate(self) -> _Handle:
        return _push(self._flags, self.values)

    def _decorate_function(self, func: Callable[..., Any]) -> Callable[..., Any]:
        # Each call pushes its own layer, so concurrent or recursive calls stay independent.
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                handle = self._activate()
                try:
                    return await func(*args, **kwargs)
                finally:
                    _pop(handle)

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            handle = self._activate()
            try:
                return func(*args, **kwargs)
            finally:
                _pop(handle)

        return wrapper

    def _decorate_class(self, cls: C) -> C:
        if issubclass(cls, unittest.TestCase):
            original_setup = cls.setUp

            @functools.wraps(original_setup)
            def setUp(test: unittest.TestCase) -> None:
                test.addCleanup(_pop, self._activate())
                original_setup(test)

            cls.setUp = setUp  # type: ignore[method-assign,assignment]  # wrapping setUp is the point
            return cls
        for name, attr in list(vars(cls).items()):
            if name.startswith("test") and inspect.isfunction(attr):
                setattr(cls, name, self._decorate_function(attr))
        return cls

    def __repr__(self) -> str:
        return f"override_flags({', '.join(sorted(self.values))})"


class FlagOverrides:
    """Overrides set from inside a test and undone after it (the ``flagkit_overrides`` fixture).

    Values go to the module-level default client unless :meth:`use` picks another client.
    Later calls win over earlier ones and over any active :func:`override_flags`.

    Example:
        >>> def test_new_checkout(flagkit_overrides):
        ...     flagkit_overrides.set("new_checkout", True)
        ...     assert flagkit.is_enabled("new_checkout")
    """

    def __init__(self, flags: Flags | None = None) -> None:
        self._flags = flags
        self._handles: list[_Handle] = []

    @property
    def flags(self) -> Flags:
        """The client that :meth:`set` overrides (the default client unless :meth:`use` was called)."""
        return self._flags if self._flags is not None else get_client()

    def use(self, flags: Flags) -> FlagOverrides:
        """Send later :meth:`set`/:meth:`update` calls to ``flags``; returns ``self`` for chaining."""
        if not isinstance(flags, Flags):
            raise TypeError(f"use() expects a flagkit.Flags, got {type(flags).__name__}")
        self._flags = flags
        return self

    def set(self, key: str, value: Any) -> None:
        """Serve ``value`` for ``key`` until the end of the test."""
        self.update({key: value})

    def update(self, values: Mapping[str, Any] | None = None, /, **overrides: Any) -> None:
        """Serve several values until the end of the test (a mapping and/or keywords)."""
        merged = dict(values or {})
        merged.update(overrides)
        if not merged:
            return
        self._handles.append(_push(self._flags, merged))

    def clear(self) -> None:
        """Undo every override made through this object (also done after the test)."""
        while self._handles:
            _pop(self._handles.pop())
