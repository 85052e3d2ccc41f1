"""The client's code-path slot filled in: ``Flags.when``/``variants``/``guarded`` (imported by
:mod:`flagkit.codepaths`, whose import registers it)."""

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
from .switches import variants, when

__all__: list[str] = []

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
