"""Switch code paths on flags: ``when`` and ``variants`` decorators.

Both evaluate the flag on every call (never at import time), keep the wrapped function's
name, docstring and signature, and work on plain functions, methods and ``async def``
functions (the awaited result is switched, not the coroutine object).

The context of each evaluation is the ambient context (``flagkit.context(...)`` or the web
middleware), with the decorator's ``context`` merged over it key by key. ``context`` is a
mapping, or a callable that receives the call's arguments and returns one, so the flag can
follow the function's own arguments::

    @flags.when("new_checkout", otherwise=old_checkout, context=lambda cart: {"user_id": cart.user_id})
    def new_checkout(cart): ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, ParamSpec, TypeVar

from .._client.shapes import (
    CallContext,
    GuardedBlock,
    OptionalSwitch,
    Switch,
    VariantDispatcher,
    register_code_paths,
)
from .guards import guard_for, guarded_block, guarded_when
from .switches import SupportsEvaluation, variants, when

__all__ = [
    "CallContext",
    "OptionalSwitch",
    "SupportsEvaluation",
    "Switch",
    "VariantDispatcher",
    "variants",
    "when",
]

P = ParamSpec("P")
R = TypeVar("R")


class _CodePaths:
    """``Flags.when``/``variants``/``guarded`` (the client's :class:`~flagkit._client.shapes.CodePaths`)."""

    def when(
        self,
        flags: Any,
        key: str,
        otherwise: Callable[..., Any] | None,
        context: CallContext,
        guard: Any,
    ) -> Switch[Any, Any] | OptionalSwitch:
        if guard is not None:
            return guarded_when(flags, key, otherwise, context, guard_for(flags, key, guard))
        return when(flags, key, otherwise=otherwise, context=context)

    def guarded(
        self, flags: Any, key: str, guard: Any, context: Mapping[str, Any] | None
    ) -> AbstractContextManager[GuardedBlock]:
        return guarded_block(flags, key, guard_for(flags, key, guard), context)

    def variants(
        self, flags: Any, key: str, context: CallContext
    ) -> Callable[[Callable[P, R]], VariantDispatcher[P, R]]:
        return variants(flags, key, context=context)


register_code_paths(_CodePaths())
