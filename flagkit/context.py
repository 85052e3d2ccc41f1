"""Ambient evaluation context (per thread and per asyncio task, via contextvars)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["EMPTY_CONTEXT", "context", "current_context"]

EMPTY_CONTEXT: Mapping[str, Any] = {}
"""Shared empty context; never mutated."""

AMBIENT: ContextVar[Mapping[str, Any]] = ContextVar("flagkit_context", default=EMPTY_CONTEXT)


def current_context() -> Mapping[str, Any]:
    """The ambient context in effect here (a read-only view; do not mutate)."""
    return AMBIENT.get()


@contextmanager
def context(**attributes: Any) -> Iterator[Mapping[str, Any]]:
    """Set ambient context attributes for every evaluation inside the block.

    Nested blocks merge (inner keys win) and everything is restored on exit. The context is
    per thread and per asyncio task, so concurrent requests never see each other's users.
    Context passed explicitly to an evaluation call overrides these attributes key by key.

    Example:
        >>> with flagkit.context(user_id="42", country="US"):
        ...     flags.is_enabled("new_checkout")
    """
    current = AMBIENT.get()
    merged = {**current, **attributes} if current else dict(attributes)
    token = AMBIENT.set(merged)
    try:
        yield merged
    finally:
        AMBIENT.reset(token)
