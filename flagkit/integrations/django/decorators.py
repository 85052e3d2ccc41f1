"""View decorators."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction
from django.http import Http404, HttpRequest, HttpResponseBase
from django.shortcuts import redirect

from .flags import get_flags

__all__ = ["flag_required"]

V = TypeVar("V", bound=Callable[..., Any])


def flag_required(key: str, redirect_to: str | None = None) -> Callable[[V], V]:
    """Serve the view only when ``key`` is on; otherwise 404, or a redirect to ``redirect_to``.

    Evaluated on every request with the request's context (install the middleware). Works
    on sync and async views; for class-based views use ``method_decorator``.

    Args:
        key: The boolean flag.
        redirect_to: A URL, path or URL pattern name (anything ``django.shortcuts.redirect``
            takes) to send users to when the flag is off.

    Example:
        >>> @flag_required("new_checkout", redirect_to="old-checkout")
        ... def checkout(request): ...
    """

    def off() -> HttpResponseBase:
        if redirect_to is None:
            raise Http404(f"flag {key!r} is off")
        return redirect(redirect_to)

    def decorator(view: V) -> V:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                if not get_flags().is_enabled(key):
                    return off()
                return await view(request, *args, **kwargs)

            return async_view  # type: ignore[return-value]  # same signature via wraps

        @functools.wraps(view)
        def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not get_flags().is_enabled(key):
                return off()
            return view(request, *args, **kwargs)

        return sync_view  # type: ignore[return-value]  # same signature via wraps

    return decorator
