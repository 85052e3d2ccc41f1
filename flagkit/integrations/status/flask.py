"""The status page as a Flask blueprint.

::

    from flask import Flask, request, session
    from flagkit.integrations.status.flask import blueprint

    def staff_only(req):               # the flask.request of each page view
        return session.get("role") == "staff"

    app.register_blueprint(blueprint(check=staff_only), url_prefix="/flags")

Without ``flags=``, the client of the app's ``FlagKit`` extension is used (else the
module-level default client), looked up per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from flask import Blueprint, Response, current_app, request

import flagkit
from flagkit import Flags

from . import StatusPage, StatusResponse, allowed, forbidden, is_async

__all__ = ["blueprint"]


def _client(flags: Flags | None) -> Flags:
    if flags is not None:
        return flags
    if "flagkit" in current_app.extensions:
        from flagkit.integrations.flask import get_flags

        return get_flags()
    return flagkit.get_client()


def _send(answer: StatusResponse) -> Response:
    return Response(
        answer.body, status=answer.status, content_type=answer.content_type, headers=dict(answer.headers)
    )


async def _awaited(awaitable: Awaitable[object]) -> object:
    return await awaitable


def _run(awaitable: Awaitable[object]) -> object:
    """Run an async check's answer from the sync view (Flask's ensure_sync: asgiref)."""
    return current_app.ensure_sync(_awaited)(awaitable)


def blueprint(
    flags: Flags | None = None,
    *,
    check: Callable[[Any], object],
    name: str = "flagkit_status",
    title: str = "flagkit status",
) -> Blueprint:
    """A blueprint serving the page at ``/`` and its JSON at ``/status.json``.

    Args:
        flags: The client to show (default: the app's, per request).
        check: ``check(flask.request) -> bool``; every request it does not answer ``True``
            gets 403. May be ``async def`` (run through Flask's ``ensure_sync``, which needs
            ``flask[async]``: without it, this raises ``TypeError`` here).

    Raises:
        TypeError: ``check`` is async and asgiref (``flask[async]``) is not installed.
        name: The blueprint name (register two pages with two names).
        title: The page title.
    """
    if is_async(check):
        try:
            import asgiref.sync  # noqa: F401  # Flask's ensure_sync runs async code through it
        except ImportError:
            raise TypeError(
                "blueprint(check=...): the check is async, and Flask runs async functions only with"
                ' asgiref installed (pip install "flask[async]"); give a sync check or install it'
            ) from None
    page = StatusPage(title=title)
    bp = Blueprint(name, __name__)

    def view(path: str = "") -> Response:
        if not allowed(check, request, _run):
            return _send(forbidden())
        query = {key: request.args.get(key, "") for key in ("user", "attrs", "flag")}
        return _send(page.respond(_client(flags), path, query))

    bp.add_url_rule("/", "index", view, methods=["GET"])
    bp.add_url_rule("/<path:path>", "page", view, methods=["GET"])
    return bp
