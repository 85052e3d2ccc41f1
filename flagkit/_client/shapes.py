"""The shapes of the client's code-path API, and where its implementation plugs in.

``Flags.when``, ``Flags.variants`` and ``Flags.guarded`` are implemented by
:mod:`flagkit.codepaths`, which sits above the client in the layer order: the client may not
import it, not even for its types. So the types those methods take and return live here
(:mod:`flagkit.codepaths` re-exports them), and :mod:`flagkit.codepaths` registers its
implementation (:class:`CodePaths`) when it is imported, which ``import flagkit`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, overload, runtime_checkable

if TYPE_CHECKING:
    from .layers import GuardHost, GuardStats, TripSwitch

__all__ = [
    "CallContext",
    "CodePathMethods",
    "CodePaths",
    "GuardedBlock",
    "OptionalSwitch",
    "Switch",
    "VariantDispatcher",
    "code_paths",
    "register_code_paths",
]

P = ParamSpec("P")
R = TypeVar("R")

CallContext = Mapping[str, Any] | Callable[..., Mapping[str, Any] | None] | None
"""Explicit context for a decorated call: a mapping, or ``callable(*args, **kwargs) -> mapping``."""


class Switch(Protocol[P, R]):
    """What ``when(key, otherwise=old)`` returns: a decorator for functions shaped like ``old``.

    The decorated function keeps its type. Under a type checker, a function whose parameters
    or result differ from ``otherwise``'s is an error; an ``async def`` function may have a
    sync ``otherwise`` returning what the coroutine returns.
    """

    @overload
    def __call__(
        self, func: Callable[P, Coroutine[Any, Any, R]], /
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> Callable[P, R]: ...


class OptionalSwitch(Protocol):
    """What ``when(key)`` without ``otherwise`` returns: the call gives ``None`` when the flag is off.

    So a function returning ``T`` becomes one returning ``T | None`` (for ``async def``, the
    awaited result is ``T | None``); type checkers make callers handle the off case.
    """

    @overload
    def __call__(
        self, func: Callable[P, Coroutine[Any, Any, R]], /
    ) -> Callable[P, Coroutine[Any, Any, R | None]]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> Callable[P, R | None]: ...


@runtime_checkable
class VariantDispatcher(Protocol[P, R]):
    """What ``@flags.variants(key)`` returns: a function that dispatches per variant of a flag.

    It is a real function (``async def`` when the default implementation is one), built with
    :func:`functools.wraps` around the default, with the dispatch API as attributes. So it
    keeps the default's name, docstring and signature, binds like any function when used as a
    method, and ``inspect.iscoroutinefunction`` reports it correctly on every supported Python
    — frameworks such as Starlette and FastAPI take it for an ordinary endpoint.

    The decorated function is the default implementation, used for variants without one,
    unknown flags and errors. Register others with ``@dispatcher.variant("name")``.

    It is generic over the default's signature ``P`` and result ``R``: under a type checker,
    calls are checked against the default's parameters and give ``R``, and a variant with
    another signature is an error. (At run time, an ``async def`` dispatcher also accepts sync
    variants; typed code registers variants of the same kind as the default.)

    Example:
        >>> @flags.variants("recommendation_engine")
        ... def recommend(user): ...           # default implementation
        >>> @recommend.variant("ai")
        ... def _(user): ...
    """

    __name__: str
    __qualname__: str
    __wrapped__: Callable[P, R]

    @property
    def key(self) -> str:
        """The flag this dispatcher switches on."""
        ...

    @property
    def implementations(self) -> Mapping[str, Callable[P, R]]:
        """Variant name → registered implementation (a read-only live view)."""
        ...

    def variant(self, *names: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Register the decorated function for one or more variant names.

        Returns the function unchanged, so it can be named ``_`` or reused.
        """
        ...

    def resolve(self, *args: P.args, **kwargs: P.kwargs) -> Callable[P, R]:
        """The implementation a call with these arguments selects in the current context."""
        ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> VariantDispatcher[P, R]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> Callable[..., R]: ...

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        """Bind like a function when used as a method (the bound call is typed ``(...) -> R``)."""
        ...


class GuardedBlock:
    """What ``with flags.guarded(key) as g:`` gives (public as :class:`flagkit.GuardedBlock`;
    defined here, not in :mod:`flagkit.codepaths.guards`, so that ``Flags.guarded`` is typed
    with it: the client may not import the code-path layer).

    Attributes:
        enabled: The flag was on when the block started: run the new path.
        failed: The new path raised (and the exception was counted and swallowed).
        error: That exception.
    """

    __slots__ = ("enabled", "error", "failed")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.failed = False
        self.error: BaseException | None = None

    @property
    def use_fallback(self) -> bool:
        """Run the old path after the block: the flag was off, or the new path failed."""
        return not self.enabled or self.failed


class CodePaths(Protocol):
    """The implementation of the client's code-path methods (:mod:`flagkit.codepaths` has it).

    ``flags`` is the client (it evaluates the flag and is the guards' :class:`GuardHost`).
    """

    def when(
        self,
        flags: GuardHost,
        key: str,
        otherwise: Callable[..., Any] | None,
        context: CallContext,
        guard: GuardStats | None,
    ) -> Switch[Any, Any] | OptionalSwitch: ...

    def guarded(
        self, flags: GuardHost, key: str, guard: GuardStats | None, context: Mapping[str, Any] | None
    ) -> AbstractContextManager[GuardedBlock]: ...

    def variants(
        self, flags: GuardHost, key: str, context: CallContext
    ) -> Callable[[Callable[P, R]], VariantDispatcher[P, R]]: ...


_registered: list[CodePaths] = []


def register_code_paths(implementation: CodePaths) -> None:
    """Install the implementation of ``Flags.when``/``variants``/``guarded`` (done by
    :mod:`flagkit.codepaths` on import)."""
    _registered[:] = [implementation]


def code_paths() -> CodePaths:
    """The registered implementation."""
    if not _registered:  # pragma: no cover - `import flagkit` imports flagkit.codepaths
        raise RuntimeError("flagkit.codepaths is not imported: import flagkit first")
    return _registered[0]


class CodePathMethods:
    """``Flags.when``, ``Flags.guarded`` and ``Flags.variants``: a base class of
    :class:`~flagkit.Flags`, each method a delegation to the registered :class:`CodePaths`."""

    __slots__ = ()

    if TYPE_CHECKING:

        @property
        def layers(self) -> TripSwitch: ...

        def is_enabled(self, key: str, context: Mapping[str, Any] | None = None) -> bool: ...

        def variant(self, key: str, context: Mapping[str, Any] | None = None) -> str | None: ...

    @overload
    def when(
        self,
        key: str,
        otherwise: None = None,
        *,
        context: CallContext = None,
        guard: GuardStats | None = None,
    ) -> OptionalSwitch: ...

    @overload
    def when(
        self,
        key: str,
        otherwise: Callable[P, R],
        *,
        context: CallContext = None,
        guard: GuardStats | None = None,
    ) -> Switch[P, R]: ...

    def when(
        self,
        key: str,
        otherwise: Callable[..., Any] | None = None,
        *,
        context: CallContext = None,
        guard: GuardStats | None = None,
    ) -> Switch[Any, Any] | OptionalSwitch:
        """Decorator: call the function when the flag is on, else ``otherwise`` (see codepaths).

        ``context`` (a mapping, or a callable given the call's arguments) is merged over the
        ambient context for each call. With a ``guard`` (:class:`flagkit.Guard`), a call whose
        function raises falls back to ``otherwise``, and too many failures switch the flag off
        in this process for a cool-down (reason ``GUARD_TRIPPED``; see docs/operating.md).
        """
        return code_paths().when(self, key, otherwise, context, guard)

    def guarded(
        self, key: str, *, guard: GuardStats | None = None, context: Mapping[str, Any] | None = None
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
        return code_paths().guarded(self, key, guard, context)

    def variants(
        self, key: str, *, context: CallContext = None
    ) -> Callable[[Callable[P, R]], VariantDispatcher[P, R]]:
        """Decorator: dispatch on the variant served (see :class:`flagkit.codepaths.VariantDispatcher`)."""
        return code_paths().variants(self, key, context)
