"""The status page as Django URL patterns.

::

    # urls.py
    from django.urls import include, path
    from flagkit.integrations.status.django import urls as flag_status_urls

    urlpatterns = [
        path("flags/", include(flag_status_urls(check=lambda request: request.user.is_staff))),
    ]

Without ``flags=``, the Django integration's client is used (``FLAGKIT`` setting). Put
the pattern after ``AuthenticationMiddleware`` has run (any view does) so ``request.user``
exists; anonymous users have ``is_staff = False`` and get 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.views.decorators.http import require_safe

from flagkit import Flags

from . import StatusPage, StatusResponse, allowed, forbidden


async def _awaited(awaitable: Awaitable[object]) -> object:
    return await awaitable


def _run(awaitable: Awaitable[object]) -> object:
    """Run an async check's answer from the sync view (asgiref ships with Django)."""
    return async_to_sync(_awaited)(awaitable)


__all__ = ["urls", "view"]


def _send(answer: StatusResponse) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    for key, value in answer.headers.items():
        response[key] = value
    return response


def view(
    flags: Flags | None = None, *, check: Callable[[HttpRequest], object], title: str = "flagkit status"
) -> Callable[..., HttpResponse]:
    """A view serving the page; its ``page`` keyword argument is the path below the mount.

    ``check(request)`` must answer ``True`` for the page to be served (anything else: 403); it
    may be ``async def`` (awaited through asgiref's ``async_to_sync``).
    """
    status_page = StatusPage(title=title)

    @require_safe
    def status_view(request: HttpRequest, page: str = "") -> HttpResponse:
        if not allowed(check, request, _run):
            return _send(forbidden())
        if flags is None:
            from flagkit.integrations.django import get_flags

            client = get_flags()
        else:
            client = flags
        query = {key: request.GET.get(key, "") for key in ("user", "attrs", "flag")}
        return _send(status_page.respond(client, page, query))

    return status_view


def urls(
    flags: Flags | None = None, *, check: Callable[[HttpRequest], object], title: str = "flagkit status"
) -> list[URLPattern]:
    """URL patterns for ``include()``: the page at ``""`` and its JSON at ``status.json``."""
    status_view: Any = view(flags, check=check, title=title)
    return [
        path("", status_view, name="flagkit-status"),
        path("status.json", status_view, {"page": "status.json"}, name="flagkit-status-json"),
    ]
