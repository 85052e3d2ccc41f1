"""A read-only flag status page for the on-call person: HTML, and the same data as JSON.

It shows each provider's health and version, every flag with its rules in words, and answers
"what does user X get" (a GET form that runs ``Flags.explain``: value, variant, reason, rule
and the step-by-step trace). Mount it with the adapter for your framework:

* Django: ``path("flags/", include(status.django.urls(check=...)))``
* Flask: ``app.register_blueprint(status.flask.blueprint(check=...), url_prefix="/flags")``
* ASGI: ``Mount("/flags", app=status.asgi.StatusApp(check=...))``

Every request is refused with 403 unless ``check(request)`` returns ``True`` (the framework's
request object; for ASGI the scope): anything else, an exception included, denies. ``check``
may be ``async def``: the ASGI app and the Django views await it; the Flask blueprint runs it
through Flask's ``ensure_sync`` (needs ``flask[async]``, i.e. asgiref, checked at set-up).
The page never writes anything, answers with :meth:`Flags.explain
<flagkit.Flags.explain>` (the compiled resolvers: no hooks, usage counts or exposure events for
the questions asked, and not the staff member's own ambient context), imports none of the
command line, logs nothing, escapes every value, loads nothing from elsewhere (inline CSS, no
script) and is sent with a strict Content-Security-Policy, ``no-store`` and
``no-referrer`` (the form's user id is in the URL).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flagkit import Flags

from ._data import Query, json_safe, parse_query, status_data
from ._html import render_html
from ._words import condition_in_words, flag_in_words

__all__ = [
    "HEADERS",
    "Query",
    "StatusPage",
    "StatusResponse",
    "allowed",
    "condition_in_words",
    "flag_in_words",
    "forbidden",
    "is_async",
    "json_safe",
    "not_found",
    "parse_query",
    "render_html",
    "status_data",
]

logger = logging.getLogger("flagkit")

HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
"""Sent with every response of the page, including the 403 and 404."""


@dataclass(frozen=True, slots=True)
class StatusResponse:
    """What an adapter sends: status code, content type, body and headers."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=lambda: dict(HEADERS))


class StatusPage:
    """The framework-neutral page: ``respond(path, query)`` → :class:`StatusResponse`.

    Args:
        title: The page title.
    """

    def __init__(self, *, title: str = "flagkit status") -> None:
        self.title = title

    def data(self, flags: Flags, query: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The page's data (what ``status.json`` returns)."""
        parsed: Query | None = parse_query(query) if query else None
        return status_data(flags, parsed, title=self.title)

    def respond(self, flags: Flags, path: str, query: Mapping[str, str]) -> StatusResponse:
        """Answer a request for ``path`` below the mount point (``""`` or ``status.json``)."""
        path = path.strip("/")
        if path in ("", "index.html"):
            html = render_html(self.data(flags, query))
            return StatusResponse(200, "text/html; charset=utf-8", html.encode())
        if path == "status.json":
            body = json.dumps(self.data(flags, query), ensure_ascii=False, allow_nan=False, indent=1)
            return StatusResponse(200, "application/json", body.encode())
        return not_found()


def forbidden() -> StatusResponse:
    """The 403 every adapter sends when the check fails (says nothing about the flags)."""
    return StatusResponse(403, "text/plain; charset=utf-8", b"403 Forbidden\n")


def not_found() -> StatusResponse:
    """404 for a path the page does not have."""
    return StatusResponse(404, "text/plain; charset=utf-8", b"404 Not Found\n")


def is_async(check: Any) -> bool:
    """True when ``check`` is an ``async def`` function (or an object whose ``__call__`` is)."""
    call = type(check).__call__ if callable(check) else None
    return inspect.iscoroutinefunction(check) or inspect.iscoroutinefunction(call)


def allowed(check: Any, request: Any, run: Callable[[Awaitable[object]], object] | None = None) -> bool:
    """True only when ``check(request)`` answers ``True``; anything else denies.

    A check that raises denies (and never leaks). A check that returns an awaitable (an
    ``async def`` check, or a sync one handing back a coroutine) is awaited through ``run``
    (the adapter's way of running async code from a sync view); without ``run`` it is closed
    unawaited and denies: an unawaited coroutine object is truthy, and treating it as a yes
    let anyone in.
    """
    verdict: object = None
    try:
        verdict = check(request)
        if inspect.isawaitable(verdict):
            pending, verdict = verdict, None
            if run is None:
                _discard(pending)
                _refused_async(check)
                return False
            try:
                verdict = run(pending)
            finally:
                _discard(pending)  # a no-op once awaited; closes it if `run` never did
        return verdict is True
    except Exception:
        return False


def _discard(awaitable: object) -> None:
    close = getattr(awaitable, "close", None)
    if inspect.iscoroutine(awaitable) and close is not None:
        close()


_REFUSED: set[int] = set()


def _refused_async(check: Any) -> None:
    if id(check) not in _REFUSED:
        _REFUSED.add(id(check))
        logger.error(
            "flagkit: status page check %s returned an awaitable this adapter cannot await: access denied",
            getattr(check, "__qualname__", type(check).__name__),
        )
