"""Flask integration: the ``FlagKit`` extension.

::

    from flagkit.integrations.flask import FlagKit, flag_required

    flagkit_ext = FlagKit()

    def create_app():
        app = Flask(__name__)
        app.config["FLAGKIT_FILE"] = "features.yaml"
        flagkit_ext.init_app(app, context_getter=lambda: {"user_id": session.get("user_id")})
        return app

Per request the extension sets the ambient context (``context_getter()`` merged over
``path``, ``method`` and ``ip``), pins one flag version, and exposes the client as
``g.flags``. Templates get ``flag_enabled(key)``, ``flag_value(key, default)`` and
``flag_variant(key)``. Configuration (every key optional):

==========================  =======  ===========================================================
``FLAGKIT_FILE``            None     a YAML/JSON flag file (lowest precedence); a relative
                                     path is relative to ``app.root_path``, not the cwd
``FLAGKIT_FILE_REQUIRED``   False    raise at ``init_app`` if the file is missing or invalid
``FLAGKIT_WATCH``           True     reload the file when it changes
``FLAGKIT_PROVIDERS``       ()       more providers, first wins
``FLAGKIT_STRICT``          False    unknown keys raise ``FlagNotFoundError``
``FLAGKIT_REQUEST_CONTEXT`` True     add ``path``, ``method``, ``ip`` to the context
``FLAGKIT_PIN_SNAPSHOT``    True     one flag version per request
``FLAGKIT_ANONYMOUS_ID``    False    a random id cookie as logged-out visitors' targeting key
``FLAGKIT_ANONYMOUS_COOKIE`` ...     its cookie name (``flagkit_anon``)
``FLAGKIT_ANONYMOUS_MAX_AGE`` ...    its lifetime in seconds (one year)
``FLAGKIT_QA_PERMISSION``   None     ``() -> True`` for testers: ``?flagkit_qa=key:variant``
``FLAGKIT_USAGE``           False    count evaluations (``Flags(usage=True)``)
``FLAGKIT_USAGE_EXPORT``    None     a file per worker, e.g. ``usage/web-{pid}.json``
``FLAGKIT_USAGE_EXPORT_INTERVAL`` 60 seconds between exports (and one at exit)
``FLAGKIT_EXPOSURES``       ()       exposure callbacks (``Flags.on_exposure``)
``FLAGKIT_TRACK_ALL``       False    report exposures of every flag
``FLAGKIT_HOOKS``           ()       evaluation hooks (``Flags.add_hook``)
==========================  =======  ===========================================================

Without a file, providers or ``flags=``, the module-level default client
(:func:`flagkit.configure`) is used, looked up on each request.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, redirect, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

import flagkit
from flagkit import ConfigError, FileProvider, Flags, FlagSet, Provider
from flagkit.bootstrap import ELEMENT_ID, script_tag

from . import _anonymous, _qa
from ._observing import UsageExport, add_observers

__all__ = ["FlagKit", "flag_file_path", "flag_required", "flagkit_bootstrap", "get_flags"]

logger = logging.getLogger("flagkit")

EXTENSION = "flagkit"
ContextGetter = Callable[[], Mapping[str, Any] | None]
V = TypeVar("V", bound=Callable[..., Any])

DEFAULTS: Mapping[str, Any] = {
    "FLAGKIT_FILE": None,
    "FLAGKIT_FILE_REQUIRED": False,
    "FLAGKIT_WATCH": True,
    "FLAGKIT_PROVIDERS": (),
    "FLAGKIT_STRICT": False,
    "FLAGKIT_REQUEST_CONTEXT": True,
    "FLAGKIT_PIN_SNAPSHOT": True,
    "FLAGKIT_ANONYMOUS_ID": False,
    "FLAGKIT_ANONYMOUS_COOKIE": _anonymous.COOKIE,
    "FLAGKIT_ANONYMOUS_MAX_AGE": _anonymous.MAX_AGE,
    "FLAGKIT_QA_PERMISSION": None,
    "FLAGKIT_USAGE": False,
    "FLAGKIT_USAGE_EXPORT": None,
    "FLAGKIT_USAGE_EXPORT_INTERVAL": 60,
    "FLAGKIT_EXPOSURES": (),
    "FLAGKIT_TRACK_ALL": False,
    "FLAGKIT_HOOKS": (),
}


@dataclass(slots=True)
class _State:
    """What ``app.extensions["flagkit"]`` holds for one app."""

    flags: Flags | None  # None: use the default client
    owned: bool
    context_getter: ContextGetter | None
    request_context: bool
    pin_snapshot: bool
    anonymous_id: bool = False
    anonymous_cookie: str = _anonymous.COOKIE
    anonymous_max_age: int = _anonymous.MAX_AGE
    qa_permission: Callable[[], Any] | None = None
    usage_export: UsageExport | None = None

    @property
    def client(self) -> Flags:
        return self.flags if self.flags is not None else flagkit.get_client()


class FlagKit:
    """Flask extension; one instance can serve several apps (it never stores an app).

    Args:
        app: Initialise this app now (else call :meth:`init_app`).
        flags: A client to use instead of one built from the app's config.
        context_getter: ``() -> dict`` called in each request (``request``, ``session``
            and ``g`` are available) to add the app's attributes, e.g. ``user_id``.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        flags: Flags | None = None,
        context_getter: ContextGetter | None = None,
    ) -> None:
        self._flags = flags
        self._context_getter = context_getter
        if app is not None:
            self.init_app(app)

    def init_app(
        self, app: Flask, *, flags: Flags | None = None, context_getter: ContextGetter | None = None
    ) -> None:
        """Register the request hooks, template globals and state on ``app``.

        Args:
            app: The Flask app.
            flags: Overrides the constructor's ``flags`` for this app.
            context_getter: Overrides the constructor's ``context_getter`` for this app.
        """
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        client = flags or self._flags
        owned = False
        if app.config["FLAGKIT_USAGE_EXPORT"] is not None and (
            client is not None or not app.config["FLAGKIT_USAGE"]
        ):
            # checked before a client is built, so a refused config leaves nothing running
            raise ValueError("FLAGKIT_USAGE_EXPORT needs FLAGKIT_USAGE = True and a file or providers")
        if client is None:
            providers: list[Provider] = list(app.config["FLAGKIT_PROVIDERS"])
            if app.config["FLAGKIT_FILE"] is not None:
                path = flag_file_path(app)
                if app.config["FLAGKIT_FILE_REQUIRED"]:
                    _require_file(path)
                providers.append(FileProvider(path, watch=app.config["FLAGKIT_WATCH"]))
            if providers:
                client = Flags(
                    *providers,
                    strict=app.config["FLAGKIT_STRICT"],
                    usage=bool(app.config["FLAGKIT_USAGE"]),
                    track_all=bool(app.config["FLAGKIT_TRACK_ALL"]),
                )
                add_observers(
                    client,
                    hooks=list(app.config["FLAGKIT_HOOKS"]),
                    exposures=list(app.config["FLAGKIT_EXPOSURES"]),
                )
                owned = True
        exporter = None
        if app.config["FLAGKIT_USAGE_EXPORT"] is not None:
            if client is None or not owned:
                raise ValueError("FLAGKIT_USAGE_EXPORT needs FLAGKIT_FILE or FLAGKIT_PROVIDERS")
            exporter = UsageExport(
                client,
                os.path.join(app.root_path, os.fspath(app.config["FLAGKIT_USAGE_EXPORT"])),
                float(app.config["FLAGKIT_USAGE_EXPORT_INTERVAL"]),
            )
        first_init = EXTENSION not in app.extensions
        app.extensions[EXTENSION] = _State(
            flags=client,
            owned=owned,
            context_getter=context_getter or self._context_getter,
            request_context=app.config["FLAGKIT_REQUEST_CONTEXT"],
            pin_snapshot=app.config["FLAGKIT_PIN_SNAPSHOT"],
            anonymous_id=bool(app.config["FLAGKIT_ANONYMOUS_ID"]),
            anonymous_cookie=str(app.config["FLAGKIT_ANONYMOUS_COOKIE"]),
            anonymous_max_age=int(app.config["FLAGKIT_ANONYMOUS_MAX_AGE"]),
            qa_permission=app.config["FLAGKIT_QA_PERMISSION"],
            usage_export=exporter,
        )
        if first_init:  # a second init_app replaces the state, not the hooks
            app.before_request(_enter_request)
            app.after_request(_after_request)
            app.teardown_request(_exit_request)
        app.jinja_env.globals.update(
            flag_enabled=_flag_enabled,
            flag_value=_flag_value,
            flag_variant=_flag_variant,
            flagkit_bootstrap=flagkit_bootstrap,
        )

    @staticmethod
    def get_flags(app: Flask | None = None) -> Flags:
        """The client of ``app`` (default: the current app). Same as :func:`get_flags`."""
        return get_flags(app)


def _require_file(path: str) -> None:
    """``FLAGKIT_FILE_REQUIRED``: fail at start-up instead of serving every default."""
    try:
        FlagSet.from_file(path)
    except OSError as exc:
        raise ConfigError(
            f"FLAGKIT_FILE cannot be read ({exc.strerror or exc}) and FLAGKIT_FILE_REQUIRED is set",
            source=path,
        ) from exc


def flag_file_path(app: Flask) -> str:
    """``FLAGKIT_FILE`` as an absolute path: a relative one is relative to ``app.root_path``
    (the app's package), so the server's working directory does not matter."""
    return os.path.join(app.root_path, os.fspath(app.config["FLAGKIT_FILE"]))


def get_flags(app: Flask | None = None) -> Flags:
    """The client the extension uses for ``app`` (default: the current app).

    Useful outside requests, e.g. ``override_flags(get_flags(app), new_checkout=True)`` in tests.

    Raises:
        RuntimeError: The extension is not initialised on the app.
    """
    target = app if app is not None else current_app
    state = target.extensions.get(EXTENSION)
    if state is None:
        raise RuntimeError("FlagKit is not initialised on this app: call FlagKit(app) or init_app(app)")
    client: Flags = state.client
    return client


def _state() -> _State:
    state: _State = current_app.extensions[EXTENSION]
    return state


def _request_context(state: _State) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    if state.request_context:
        ctx["path"] = request.path
        ctx["method"] = request.method
        if request.remote_addr:
            ctx["ip"] = request.remote_addr
    if state.context_getter is not None:
        try:
            extra = state.context_getter()
        except Exception:
            logger.exception("flagkit: the Flask context_getter failed; using the default context")
            extra = None
        if isinstance(extra, Mapping):
            ctx.update(extra)
    if state.anonymous_id:
        value = request.cookies.get(state.anonymous_cookie)
        if value is None or not _anonymous.is_valid(value):
            value = g._flagkit_new_anonymous_id = _anonymous.new_id()
        g.flagkit_anonymous_id = value
        _anonymous.apply(ctx, value)
    return ctx


def _enter_request() -> None:
    if "_flagkit_scope" in g:
        return
    state = _state()
    client = state.client
    g.flags = client
    if state.usage_export is not None:
        state.usage_export.ensure_started()  # in this (worker) process, once
    stack = ExitStack()
    # The client's context() also restarts provider threads in a forked worker (uWSGI).
    stack.enter_context(client.context(**{str(k): v for k, v in _request_context(state).items()}))
    forced = _qa_forced(state)
    if forced:  # a tester's QA overrides: this request only
        stack.enter_context(client.snapshot(forced=forced))
    elif state.pin_snapshot:
        stack.enter_context(client.snapshot())
    g._flagkit_scope = stack


def _qa_forced(state: _State) -> dict[str, str] | None:
    """The variants a tester forces (``FLAGKIT_QA_PERMISSION`` granted), else None."""
    permission = state.qa_permission
    if permission is None or (_qa.PARAM not in request.args and _qa.COOKIE not in request.cookies):
        return None
    try:
        # ensure_sync runs an async def to completion: its coroutine is never taken as a yes.
        result = current_app.ensure_sync(permission)()
    except Exception:
        logger.exception("flagkit: FLAGKIT_QA_PERMISSION failed; QA overrides refused")
        return None
    if not _qa.granted(result):
        return None
    forced = _qa.parse(request.cookies.get(_qa.COOKIE))
    param = request.args.get(_qa.PARAM)
    if param is not None:
        forced = _qa.merge(forced, param)
        g._flagkit_qa_cookie = _qa.encode(forced)
    return forced


def _after_request(response: Response) -> Response:
    qa_cookie: str | None = g.pop("_flagkit_qa_cookie", None)
    if qa_cookie == "":
        response.delete_cookie(_qa.COOKIE, samesite="Lax")
    elif qa_cookie is not None:
        response.set_cookie(_qa.COOKIE, qa_cookie, httponly=True, samesite="Lax", secure=request.is_secure)
    new_id: str | None = g.pop("_flagkit_new_anonymous_id", None)
    if new_id is not None:
        state = _state()
        response.set_cookie(
            state.anonymous_cookie,
            new_id,
            max_age=state.anonymous_max_age,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
        )
    return response


def _exit_request(exc: BaseException | None) -> None:
    stack: ExitStack | None = g.pop("_flagkit_scope", None)
    if stack is not None:
        stack.close()


def _flag_enabled(key: str) -> bool:
    return get_flags().is_enabled(key)


def _flag_value(key: str, default: Any = None) -> Any:
    return get_flags().get_value(key, default)


def _flag_variant(key: str) -> str | None:
    return get_flags().variant(key)


def flag_required(key: str, redirect_to: str | None = None) -> Callable[[V], V]:
    """Serve the view only when ``key`` is on; otherwise 404, or redirect to ``redirect_to``.

    Args:
        key: The boolean flag.
        redirect_to: An endpoint name (``"old_checkout"``) or a URL/path (``"/old"``).

    Example:
        >>> @app.route("/checkout")
        ... @flag_required("new_checkout", redirect_to="old_checkout")
        ... def checkout(): ...
    """

    def off() -> Response:
        if redirect_to is None:
            abort(404)
        target = redirect_to if "/" in redirect_to or ":" in redirect_to else url_for(redirect_to)
        return redirect(target)

    def decorator(view: V) -> V:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not get_flags().is_enabled(key):
                return off()
            return current_app.ensure_sync(view)(*args, **kwargs)

        return wrapper  # type: ignore[return-value]  # same signature via wraps

    return decorator


def flagkit_bootstrap(element_id: str = ELEMENT_ID) -> Markup:
    """The client-visible flags for this request as ``<script type="application/json">``.

    A Jinja global: ``{{ flagkit_bootstrap() }}`` in a template (no ``|safe`` needed; the
    JSON is escaped like Django's ``json_script``). For a JSON endpoint, return
    ``get_flags().bootstrap()`` from a view.
    """
    return Markup(script_tag(get_flags().bootstrap(), element_id))
