"""FlagkitMiddleware: per-request evaluation context, snapshot pinning and ``request.flags``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from .. import _anonymous
from .flags import arequest_context, get_flags, get_settings, request_context

__all__ = ["FlagkitMiddleware"]


class FlagkitMiddleware:
    """Sets the ambient flag context for each request; works under WSGI and ASGI.

    Add it after ``AuthenticationMiddleware`` so ``request.user`` is known::

        MIDDLEWARE = [..., "django.contrib.auth.middleware.AuthenticationMiddleware",
                      "flagkit.integrations.django.middleware.FlagkitMiddleware", ...]

    Inside the request (views, templates rendered by the response, code they call)
    every evaluation sees the request's context (see
    :func:`~flagkit.integrations.django.flags.request_context`), answers come from one
    pinned flag version, and ``request.flags`` is the client.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self.__acall__(request)
        ctx = request_context(request)
        new_id = _anonymous_id(request, ctx)
        with self._scope(request, ctx):
            response = self.get_response(request)
        if new_id is not None:
            _set_cookie(request, response, new_id)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        user = None
        conf = get_settings()
        if (conf.user_context or conf.context is not None) and hasattr(request, "auser"):
            user = await request.auser()  # never a lazy DB hit from async code
            # Keep it: request.user is a lazy object whose first read queries the database,
            # which raises SynchronousOnlyOperation on the event loop (in CONTEXT or a view).
            request.user = user
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        ctx = await arequest_context(request, user)
        new_id = _anonymous_id(request, ctx)
        with self._scope(request, ctx):
            response = await get_response(request)
        if new_id is not None:
            _set_cookie(request, response, new_id)
        return response

    def _scope(self, request: HttpRequest, ctx: dict[str, Any]) -> ExitStack:
        flags = get_flags()
        request.flags = flags  # type: ignore[attr-defined]  # documented request attribute
        stack = ExitStack()
        # The client's context() also restarts provider threads in a forked worker (uWSGI).
        stack.enter_context(flags.context(**{str(k): v for k, v in ctx.items()}))
        if get_settings().pin_snapshot:
            stack.enter_context(flags.snapshot())
        return stack


def _anonymous_id(request: HttpRequest, ctx: dict[str, Any]) -> str | None:
    """With ``ANONYMOUS_ID``: put the browser's id in ``ctx``; returns it when it is new."""
    conf = get_settings()
    if not conf.anonymous_id:
        return None
    value = request.COOKIES.get(conf.anonymous_cookie)
    new = None
    if value is None or not _anonymous.is_valid(value):
        value = new = _anonymous.new_id()
    request.flagkit_anonymous_id = value  # type: ignore[attr-defined]  # documented request attribute
    _anonymous.apply(ctx, value)
    return new


def _set_cookie(request: HttpRequest, response: HttpResponseBase, value: str) -> None:
    conf = get_settings()
    response.set_cookie(
        conf.anonymous_cookie,
        value,
        max_age=conf.anonymous_max_age,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )
