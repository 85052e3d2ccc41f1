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

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, request

import flagkit
from flagkit import Flags

from . import StatusPage, StatusResponse, allowed, forbidden

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
        check: ``check(flask.request) -> bool``; every request it refuses gets 403.
        name: The blueprint name (register two pages with two names).
        title: The page title.
    """
    page = StatusPage(title=title)
    bp = Blueprint(name, __name__)

    def view(path: str = "") -> Response:
        if not allowed(check, request):
            return _send(forbidden())
        query = {key: request.args.get(key, "") for key in ("user", "attrs", "flag")}
        return _send(page.respond(_client(flags), path, query))

    bp.add_url_rule("/", "index", view, methods=["GET"])
    bp.add_url_rule("/<path:path>", "page", view, methods=["GET"])
    return bp
