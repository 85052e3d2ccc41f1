"""The module-level default client behind ``flagkit.configure()`` and ``flagkit.is_enabled()``.

Applications with one set of flags configure it once at start-up and call the module-level
functions anywhere, without passing a client around::

    flagkit.configure(flagkit.FileProvider("features.yaml"))
    if flagkit.is_enabled("new_checkout"): ...

Every function looks the client up at call time, so decorators applied at import time
(``@flagkit.when(...)``) follow a later ``configure()``. Before ``configure()`` the default
client has no providers: every flag serves the caller's default (a warning is logged once).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, ParamSpec, TypeVar, overload

from ._client.flags import Flags, Snapshot
from .codepaths import CallContext, OptionalSwitch, Switch, VariantDispatcher
from .codepaths import variants as _variants
from .codepaths import when as _when
from .evaluation import Evaluation
from .providers.base import Provider

__all__ = [
    "all_values",
    "configure",
    "evaluate",
    "get_client",
    "get_value",
    "is_enabled",
    "snapshot",
    "variant",
    "variants",
    "when",
]

logger = logging.getLogger("flagkit")

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.RLock()
_client: Flags | None = None
_owned = False  # True when configure() built the client (so it closes it on replacement)


class _Layer:
    """An override layer of "the default client": it moves to each client configure() installs."""

    __slots__ = ("client", "handle", "values")

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)
        self.client: Flags | None = None
        self.handle: object = None

    def attach(self, client: Flags) -> None:
        if self.client is client:
            return
        if self.client is not None:
            self.client.pop_overrides(self.handle)
        self.client, self.handle = client, client.push_overrides(self.values)


_layers: list[_Layer] = []  # active overrides of the default client, oldest first


def configure(*providers: Provider, strict: bool = False, flags: Flags | None = None) -> Flags:
    """Set the default client used by ``flagkit.is_enabled()`` and friends.

    Either build one from providers or install an existing :class:`~flagkit.Flags`. A client
    built here is closed when ``configure()`` is called again; one passed as ``flags`` is not
    (its owner closes it).

    Args:
        *providers: Where the flags come from (first wins), as for :class:`~flagkit.Flags`.
        strict: Raise :class:`~flagkit.FlagNotFoundError` for unknown keys.
        flags: An existing client to use instead of building one.

    Returns:
        The new default client.

    Raises:
        TypeError: Both ``providers`` and ``flags`` were given.

    Example:
        >>> flagkit.configure(flagkit.FileProvider("features.yaml"))
        >>> flagkit.is_enabled("new_checkout")
    """
    global _client, _owned
    if flags is not None:
        if providers or strict:
            raise TypeError("configure() takes providers or flags=, not both")
        if not isinstance(flags, Flags):
            raise TypeError(f"flags must be a flagkit.Flags, got {type(flags).__name__}")
        new, owned = flags, False
    else:
        new, owned = Flags(*providers, strict=strict), True
    with _lock:
        old, old_owned = _client, _owned
        _client, _owned = new, owned
        for layer in _layers:  # in order, so the latest override still wins on the new client
            layer.attach(new)
    if old is not None and old_owned and old is not new:
        old.close()
    return new


def get_client() -> Flags:
    """The default client (an empty one, serving every default, until :func:`configure`)."""
    client = _client
    if client is not None:
        return client
    return _placeholder()


def _placeholder() -> Flags:
    global _client, _owned
    with _lock:
        if _client is None:
            logger.warning(
                "flagkit: the default client is used before flagkit.configure(); "
                "every flag serves the caller's default"
            )
            _client, _owned = Flags(), True
            for layer in _layers:
                layer.attach(_client)
        return _client


def push_default_overrides(values: Mapping[str, Any]) -> object:
    """Override flags of "the default client", whichever it is now or after a later configure().

    Overrides made before the application configures its client (a test decorator, the
    ``flagkit_overrides`` fixture before a FastAPI lifespan runs) move to the client
    :func:`configure` installs, so they are never left behind on a replaced client.

    Returns:
        A handle for :func:`pop_default_overrides`.
    """
    layer = _Layer(values)
    with _lock:
        _layers.append(layer)
        if _client is not None:
            layer.attach(_client)
    return layer


def pop_default_overrides(handle: object) -> None:
    """Remove a layer added by :func:`push_default_overrides` (from whichever client holds it)."""
    with _lock:
        if not isinstance(handle, _Layer):
            raise TypeError("pop_default_overrides() takes a handle from push_default_overrides()")
        if handle in _layers:
            _layers.remove(handle)
        if handle.client is not None:
            handle.client.pop_overrides(handle.handle)
            handle.client = None


def _reset() -> None:
    """Forget the default client (for tests of flagkit itself)."""
    global _client, _owned
    with _lock:
        old, old_owned = _client, _owned
        _client, _owned = None, False
        for layer in _layers:  # they wait for the next client
            if layer.client is not None:
                layer.client.pop_overrides(layer.handle)
                layer.client = None
    if old is not None and old_owned:
        old.close()


class _DefaultClient:
    """Forwards to whatever the default client is at call time (for the decorators)."""

    __slots__ = ()

    def is_enabled(self, key: str, context: Mapping[str, Any] | None = None) -> bool:
        return (_client or get_client()).is_enabled(key, context)

    def variant(self, key: str, context: Mapping[str, Any] | None = None) -> str | None:
        return (_client or get_client()).variant(key, context)


_DEFAULT = _DefaultClient()


def is_enabled(key: str, context: Mapping[str, Any] | None = None) -> bool:
    """:meth:`Flags.is_enabled <flagkit.Flags.is_enabled>` on the default client."""
    return (_client or get_client()).is_enabled(key, context)


@overload
def get_value(key: str, default: None, context: Mapping[str, Any] | None = None) -> Any: ...


@overload
def get_value(key: str, default: T, context: Mapping[str, Any] | None = None) -> T: ...


def get_value(key: str, default: Any, context: Mapping[str, Any] | None = None) -> Any:
    """:meth:`Flags.get_value <flagkit.Flags.get_value>` on the default client."""
    return (_client or get_client()).get_value(key, default, context)


def variant(key: str, context: Mapping[str, Any] | None = None) -> str | None:
    """:meth:`Flags.variant <flagkit.Flags.variant>` on the default client."""
    return (_client or get_client()).variant(key, context)


@overload
def evaluate(key: str, default: None, context: Mapping[str, Any] | None = None) -> Evaluation[Any]: ...


@overload
def evaluate(key: str, default: T, context: Mapping[str, Any] | None = None) -> Evaluation[T]: ...


def evaluate(key: str, default: Any, context: Mapping[str, Any] | None = None) -> Evaluation[Any]:
    """:meth:`Flags.evaluate <flagkit.Flags.evaluate>` on the default client."""
    return (_client or get_client()).evaluate(key, default, context)


def all_values(context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:meth:`Flags.all_values <flagkit.Flags.all_values>` on the default client."""
    return (_client or get_client()).all_values(context)


def snapshot() -> AbstractContextManager[Snapshot]:
    """:meth:`Flags.snapshot <flagkit.Flags.snapshot>` on the default client."""
    return get_client().snapshot()


@overload
def when(key: str, otherwise: None = None, *, context: CallContext = None) -> OptionalSwitch: ...


@overload
def when(key: str, otherwise: Callable[P, R], *, context: CallContext = None) -> Switch[P, R]: ...


def when(
    key: str, otherwise: Callable[..., Any] | None = None, *, context: CallContext = None
) -> Switch[Any, Any] | OptionalSwitch:
    """:func:`flagkit.codepaths.when` on the default client (looked up on each call)."""
    return _when(_DEFAULT, key, otherwise=otherwise, context=context)


def variants(key: str, *, context: CallContext = None) -> Callable[[Callable[P, R]], VariantDispatcher[P, R]]:
    """:func:`flagkit.codepaths.variants` on the default client (looked up on each call)."""
    return _variants(_DEFAULT, key, context=context)
