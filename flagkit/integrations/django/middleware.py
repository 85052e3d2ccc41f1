"""FlagkitMiddleware: per-request evaluation context, snapshot pinning and ``request.flags``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase

from .. import _anonymous, _qa
from .conf import QaPermission
from .flags import arequest_context, get_flags, get_settings, request_context, usage_export

__all__ = ["FlagkitMiddleware"]

logger = logging.getLogger("flagkit")


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
        qa = _qa_sync(request)
        with self._scope(request, ctx, qa[0]):
            response = self.get_response(request)
        _set_cookies(request, response, new_id, qa[1])
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
        qa = await _qa_async(request)
        with self._scope(request, ctx, qa[0]):
            response = await get_response(request)
        _set_cookies(request, response, new_id, qa[1])
        return response

    def _scope(
        self, request: HttpRequest, ctx: dict[str, Any], forced: dict[str, str] | None = None
    ) -> ExitStack:
        flags = get_flags()
        exporter = usage_export()
        if exporter is not None:
            exporter.ensure_started()  # in this (worker) process, once
        request.flags = flags  # type: ignore[attr-defined]  # documented request attribute
        stack = ExitStack()
        # The client's context() also restarts provider threads in a forked worker (uWSGI).
        stack.enter_context(flags.context(**{str(k): v for k, v in ctx.items()}))
        if forced:  # a tester's QA overrides: this request only
            stack.enter_context(flags.snapshot(forced=forced))
        elif get_settings().pin_snapshot:
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


def _set_cookies(
    request: HttpRequest, response: HttpResponseBase, new_id: str | None, qa_cookie: str | None
) -> None:
    conf = get_settings()
    secure = request.is_secure()
    if new_id is not None:
        response.set_cookie(
            conf.anonymous_cookie, new_id, max_age=conf.anonymous_max_age, httponly=True, samesite="Lax",
            secure=secure,
        )  # fmt: skip
    if qa_cookie == "":
        response.delete_cookie(_qa.COOKIE, samesite="Lax")
    elif qa_cookie is not None:
        response.set_cookie(_qa.COOKIE, qa_cookie, httponly=True, samesite="Lax", secure=secure)


_NO_QA: tuple[dict[str, str] | None, str | None] = (None, None)


def _qa_permission(request: HttpRequest) -> QaPermission | None:
    """The permission callable, when QA overrides are on and this request asks for them."""
    permission = get_settings().qa_permission
    if permission is None or (_qa.PARAM not in request.GET and _qa.COOKIE not in request.COOKIES):
        return None
    return permission


def _qa_sync(request: HttpRequest) -> tuple[dict[str, str] | None, str | None]:
    """(forced variants, new cookie value or None) for a tester; (None, None) for anyone else."""
    permission = _qa_permission(request)
    if permission is None:
        return _NO_QA
    try:
        if iscoroutinefunction(permission):
            result = async_to_sync(permission)(request)  # awaited, never taken as truthy
        else:
            result = permission(request)
    except Exception:
        logger.exception("flagkit: FLAGKIT['QA_PERMISSION'] failed; QA overrides refused")
        return _NO_QA
    return _qa_forced(request, result)


async def _qa_async(request: HttpRequest) -> tuple[dict[str, str] | None, str | None]:
    permission = _qa_permission(request)
    if permission is None:
        return _NO_QA
    try:
        if iscoroutinefunction(permission):
            result = await permission(request)
        else:
            result = await sync_to_async(permission, thread_sensitive=True)(request)
    except Exception:
        logger.exception("flagkit: FLAGKIT['QA_PERMISSION'] failed; QA overrides refused")
        return _NO_QA
    return _qa_forced(request, result)


def _qa_forced(request: HttpRequest, result: Any) -> tuple[dict[str, str] | None, str | None]:
    if not _qa.granted(result):
        return _NO_QA
    forced = _qa.parse(request.COOKIES.get(_qa.COOKIE))
    param = request.GET.get(_qa.PARAM)
    if param is None:
        return forced, None
    forced = _qa.merge(forced, param)
    return forced, _qa.encode(forced)
