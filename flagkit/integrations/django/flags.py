"""The client the Django integration uses, and the per-request context."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

import flagkit
from flagkit import FileProvider, FlagkitError, Flags, FlagSet

from .._observing import UsageExport, add_observers
from .conf import FlagkitSettings, load_settings
from .lazy import LazyGroups

__all__ = ["FlagsRequest", "arequest_context", "flags_of", "get_flags", "request_context"]

logger = logging.getLogger("flagkit")

_lock = threading.Lock()
_state: tuple[FlagkitSettings, Flags | None] | None = None
_exporter: UsageExport | None = None


def usage_export() -> UsageExport | None:
    """The per-process usage exporter of ``FLAGKIT["USAGE_EXPORT"]``, if configured."""
    return _exporter


def _load() -> tuple[FlagkitSettings, Flags | None]:
    global _state
    state = _state
    if state is not None:
        return state
    with _lock:
        if _state is None:
            conf = load_settings()
            client: Flags | None = None
            if conf.file is not None and conf.file_required:
                _require_file(conf.file)
            if conf.configured:
                providers = list(conf.providers)
                if conf.file is not None:
                    providers.append(FileProvider(conf.file, watch=conf.watch))
                # Never raises for a bad file: it serves no flags and the system check reports it.
                client = Flags(*providers, strict=conf.strict, usage=conf.usage, track_all=conf.track_all)
                add_observers(client, hooks=conf.hooks, exposures=conf.exposures)
                if conf.usage_export is not None:
                    global _exporter
                    _exporter = UsageExport(client, conf.usage_export, conf.usage_export_interval)
                flagkit.configure(flags=client)
            _state = (conf, client)
        return _state


def _require_file(path: str) -> None:
    """``FILE_REQUIRED``: refuse to start without a readable, valid flag file."""
    try:
        FlagSet.from_file(path)
    except (FlagkitError, OSError) as exc:
        raise ImproperlyConfigured(
            f"FLAGKIT['FILE'] {path} cannot be loaded and FILE_REQUIRED is set: {exc}"
        ) from exc


def get_flags() -> Flags:
    """The client built from ``settings.FLAGKIT``, or the default client when it names no source.

    A client built from settings is also installed as the module-level default client, so
    ``flagkit.is_enabled(...)`` and ``flagkit.testing.override_flags(...)`` reach it.

    Raises:
        ImproperlyConfigured: ``settings.FLAGKIT`` is invalid.
    """
    client = _load()[1]
    return client if client is not None else flagkit.get_client()


class FlagsRequest(HttpRequest):
    """For annotations only: a request that went through ``FlagkitMiddleware``.

    ``request.flags`` is not an attribute of ``HttpRequest`` for django-stubs; annotate a view
    ``def view(request: FlagsRequest)`` to type it, or call :func:`flags_of`, which needs no
    annotation and also works where the middleware did not run.
    """

    flags: Flags


def flags_of(request: HttpRequest) -> Flags:
    """The client serving ``request``: ``request.flags`` set by the middleware, else :func:`get_flags`.

    Typed (``Flags``) under ``mypy --strict`` with django-stubs, unlike ``request.flags``.

    Example:
        >>> def checkout(request: HttpRequest) -> HttpResponse:
        ...     if flags_of(request).is_enabled("new_checkout"): ...
    """
    flags = getattr(request, "flags", None)
    return flags if isinstance(flags, Flags) else get_flags()


def get_settings() -> FlagkitSettings:
    """The validated ``FLAGKIT`` setting (cached until the setting changes)."""
    return _load()[0]


def reset() -> None:
    """Forget the client and settings (closing a client built here); the next use rebuilds them."""
    global _state, _exporter
    with _lock:
        state, _state = _state, None
        exporter, _exporter = _exporter, None
    if exporter is not None:
        exporter.stop()
    if state is not None and state[1] is not None:
        state[1].close()


def on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed`` receiver: rebuild after ``override_settings(FLAGKIT=...)``.

    The new client is built (and installed as the default client) at once, so overrides
    made right after, such as ``override_flags(...)`` on the default client, reach it.
    """
    if setting == "FLAGKIT":
        reset()
        with contextlib.suppress(ImproperlyConfigured):  # reported by the check / on first use
            get_flags()


def request_context(request: HttpRequest, user: Any = None) -> dict[str, Any]:
    """The evaluation context of a request.

    With ``USER_CONTEXT`` (the default): ``path``, ``method``, ``ip`` (``REMOTE_ADDR``),
    ``authenticated``, ``staff``, ``superuser`` (booleans), ``groups`` (the user's group
    names, queried only when a condition reads them) and, for an authenticated user,
    ``user_id`` (``str(user.pk)``) and ``username``. The ``CONTEXT`` callable's
    attributes are merged over those. A failing ``CONTEXT`` callable is logged and skipped,
    so a bug there never turns into a 500. An ``async def`` ``CONTEXT`` is run to completion.

    Args:
        request: The request.
        user: The user, when already resolved (async middleware); else ``request.user``.
    """
    conf = get_settings()
    ctx = _base_context(conf, request, user)
    if conf.context is not None:
        try:
            if iscoroutinefunction(conf.context):
                extra = async_to_sync(conf.context)(request)
            else:
                extra = conf.context(request)
        except Exception:
            logger.exception("flagkit: FLAGKIT['CONTEXT'] callable failed; using the default context")
            return ctx
        _merge(ctx, extra)
    return ctx


async def arequest_context(request: HttpRequest, user: Any = None) -> dict[str, Any]:
    """:func:`request_context` for async code: never touches the database on the event loop.

    An ``async def`` ``CONTEXT`` is awaited; a plain one runs in a worker thread
    (``sync_to_async``), where reading ``request.user`` or a related object is allowed.
    """
    conf = get_settings()
    ctx = _base_context(conf, request, user)
    if conf.context is not None:
        try:
            if iscoroutinefunction(conf.context):
                extra = await conf.context(request)
            else:
                extra = await sync_to_async(conf.context, thread_sensitive=True)(request)
        except Exception:
            logger.exception("flagkit: FLAGKIT['CONTEXT'] callable failed; using the default context")
            return ctx
        _merge(ctx, extra)
    return ctx


def _base_context(conf: FlagkitSettings, request: HttpRequest, user: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    if conf.user_context:
        ctx["path"] = request.path
        if request.method:
            ctx["method"] = request.method
        ip = request.META.get("REMOTE_ADDR")
        if ip:
            ctx["ip"] = ip
        if user is None:
            user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            ctx["user_id"] = str(user.pk)
            ctx["username"] = user.get_username() if hasattr(user, "get_username") else str(user)
            ctx["authenticated"] = True
            ctx["staff"] = bool(getattr(user, "is_staff", False))
            ctx["superuser"] = bool(getattr(user, "is_superuser", False))
            # Queried only if a condition reads it.
            ctx["groups"] = LazyGroups(user) if hasattr(user, "groups") else []
        else:
            ctx.update(authenticated=False, staff=False, superuser=False, groups=[])
    return ctx


def _merge(ctx: dict[str, Any], extra: Any) -> None:
    if isinstance(extra, Mapping):
        ctx.update(extra)
    elif extra is not None:
        logger.error("flagkit: FLAGKIT['CONTEXT'] returned %s, not a mapping; ignored", type(extra).__name__)
