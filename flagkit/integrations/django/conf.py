"""The ``FLAGKIT`` setting: every key, its default and its validation in one place.

.. code-block:: python

    FLAGKIT = {
        "FILE": "features.yaml",             # a YAML/JSON flag file (lowest precedence);
                                             # relative to settings.BASE_DIR, not the cwd
        "FILE_REQUIRED": False,              # fail at start-up if FILE is missing or invalid
        "WATCH": True,                       # reload FILE when it changes
        "PROVIDERS": [],                     # more providers, first wins: instances or dotted paths
        "STRICT": False,                     # unknown keys raise FlagNotFoundError (for tests)
        "CONTEXT": None,                     # dotted path or callable (or async def):
                                             # request -> dict of attributes
        "USER_CONTEXT": True,                # add user_id / ip / path / method to the context
        "PIN_SNAPSHOT": True,                # one flag version per request
        "ANONYMOUS_ID": False,               # a random id cookie as logged-out visitors' targeting key
        "ANONYMOUS_COOKIE": "flagkit_anon",  # its cookie name
        "ANONYMOUS_MAX_AGE": 31536000,       # its lifetime in seconds (one year)
        "QA_PERMISSION": None,               # request -> True for testers: ?flagkit_qa=key:variant
        "USAGE": False,                      # count evaluations (Flags(usage=True))
        "USAGE_EXPORT": None,                # e.g. "usage/web-{pid}.json": one file per worker
        "USAGE_EXPORT_INTERVAL": 60,         # seconds between exports (and one at exit)
        "EXPOSURES": [],                     # exposure callbacks: callables or dotted paths
        "TRACK_ALL": False,                  # report exposures of every flag, not only track: true
        "HOOKS": [],                         # evaluation hooks: instances, classes or dotted paths
    }

Without ``FILE`` and ``PROVIDERS`` the integration uses the module-level default client
(:func:`flagkit.configure`), so an app may configure flags itself.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.module_loading import import_string

from flagkit import Provider

from .. import _anonymous

__all__ = ["DEFAULTS", "FlagkitSettings", "load_settings"]

ContextGetter = Callable[[HttpRequest], Mapping[str, Any] | Awaitable[Mapping[str, Any] | None] | None]
"""``FLAGKIT["CONTEXT"]``: ``request -> mapping``, a plain function or an ``async def``."""

QaPermission = Callable[[HttpRequest], bool | Awaitable[bool]]
"""``FLAGKIT["QA_PERMISSION"]``: ``request -> True`` for a tester (may be ``async def``)."""

DEFAULTS: Mapping[str, Any] = {
    "FILE": None,
    "FILE_REQUIRED": False,
    "WATCH": True,
    "PROVIDERS": (),
    "STRICT": False,
    "CONTEXT": None,
    "USER_CONTEXT": True,
    "PIN_SNAPSHOT": True,
    "ANONYMOUS_ID": False,
    "ANONYMOUS_COOKIE": _anonymous.COOKIE,
    "ANONYMOUS_MAX_AGE": _anonymous.MAX_AGE,
    "QA_PERMISSION": None,
    "USAGE": False,
    "USAGE_EXPORT": None,
    "USAGE_EXPORT_INTERVAL": 60,
    "EXPOSURES": (),
    "TRACK_ALL": False,
    "HOOKS": (),
}


@dataclass(frozen=True, slots=True)
class FlagkitSettings:
    """``settings.FLAGKIT`` merged over :data:`DEFAULTS` and checked."""

    file: str | None
    file_required: bool
    watch: bool
    providers: tuple[Provider, ...]
    strict: bool
    context: ContextGetter | None
    user_context: bool
    pin_snapshot: bool
    anonymous_id: bool = False
    anonymous_cookie: str = _anonymous.COOKIE
    anonymous_max_age: int = _anonymous.MAX_AGE
    qa_permission: QaPermission | None = None
    usage: bool = False
    usage_export: str | None = None
    usage_export_interval: float = 60.0
    exposures: tuple[Callable[..., Any], ...] = ()
    track_all: bool = False
    hooks: tuple[Any, ...] = ()

    @property
    def configured(self) -> bool:
        """True when the setting names a flag source (else the default client is used)."""
        return self.file is not None or bool(self.providers)


def load_settings() -> FlagkitSettings:
    """Read ``settings.FLAGKIT``.

    Raises:
        ImproperlyConfigured: Unknown key, wrong type, or a dotted path that does not import.
    """
    raw = getattr(settings, "FLAGKIT", None) or {}
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(f"FLAGKIT must be a dict, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ImproperlyConfigured(
            f"FLAGKIT has unknown key(s) {', '.join(map(repr, unknown))}; known: {', '.join(DEFAULTS)}"
        )
    merged = {**DEFAULTS, **raw}
    file = merged["FILE"]
    if file is not None and not isinstance(file, str | os.PathLike):
        raise ImproperlyConfigured(f"FLAGKIT['FILE'] must be a path, got {type(file).__name__}")
    for key in (
        "FILE_REQUIRED",
        "WATCH",
        "STRICT",
        "USER_CONTEXT",
        "PIN_SNAPSHOT",
        "ANONYMOUS_ID",
        "USAGE",
        "TRACK_ALL",
    ):
        if not isinstance(merged[key], bool):
            raise ImproperlyConfigured(f"FLAGKIT[{key!r}] must be True or False")
    if not isinstance(merged["ANONYMOUS_COOKIE"], str) or not merged["ANONYMOUS_COOKIE"]:
        raise ImproperlyConfigured("FLAGKIT['ANONYMOUS_COOKIE'] must be a cookie name")
    max_age = merged["ANONYMOUS_MAX_AGE"]
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age <= 0:
        raise ImproperlyConfigured("FLAGKIT['ANONYMOUS_MAX_AGE'] must be a positive number of seconds")
    export = merged["USAGE_EXPORT"]
    if export is not None and not isinstance(export, str | os.PathLike):
        raise ImproperlyConfigured("FLAGKIT['USAGE_EXPORT'] must be a path (it may hold {pid})")
    if export is not None and not merged["USAGE"]:
        raise ImproperlyConfigured("FLAGKIT['USAGE_EXPORT'] needs FLAGKIT['USAGE'] = True")
    interval = merged["USAGE_EXPORT_INTERVAL"]
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
        raise ImproperlyConfigured("FLAGKIT['USAGE_EXPORT_INTERVAL'] must be a positive number of seconds")
    for key in ("EXPOSURES", "HOOKS"):
        if isinstance(merged[key], str | bytes) or not isinstance(merged[key], list | tuple):
            raise ImproperlyConfigured(f"FLAGKIT[{key!r}] must be a list")
    if isinstance(merged["PROVIDERS"], str | bytes) or not isinstance(merged["PROVIDERS"], list | tuple):
        raise ImproperlyConfigured("FLAGKIT['PROVIDERS'] must be a list")
    return FlagkitSettings(
        file=_resolve(file) if file is not None else None,
        file_required=merged["FILE_REQUIRED"],
        watch=merged["WATCH"],
        providers=tuple(_provider(item, index) for index, item in enumerate(merged["PROVIDERS"])),
        strict=merged["STRICT"],
        context=_context_getter(merged["CONTEXT"]),
        user_context=merged["USER_CONTEXT"],
        pin_snapshot=merged["PIN_SNAPSHOT"],
        anonymous_id=merged["ANONYMOUS_ID"],
        anonymous_cookie=merged["ANONYMOUS_COOKIE"],
        anonymous_max_age=max_age,
        qa_permission=_qa_permission(merged["QA_PERMISSION"]),
        usage=merged["USAGE"],
        usage_export=_resolve(export) if export is not None else None,
        usage_export_interval=float(interval),
        exposures=tuple(
            _callable(item, f"FLAGKIT['EXPOSURES'][{i}]") for i, item in enumerate(merged["EXPOSURES"])
        ),
        track_all=merged["TRACK_ALL"],
        hooks=tuple(_hook(item, i) for i, item in enumerate(merged["HOOKS"])),
    )


def _resolve(file: str | os.PathLike[str]) -> str:
    """A relative ``FILE`` is relative to ``settings.BASE_DIR`` (the project), not to the
    directory the server happens to start in; without ``BASE_DIR``, to the working directory."""
    path = os.fspath(file)
    base = getattr(settings, "BASE_DIR", None)
    if not os.path.isabs(path) and isinstance(base, str | os.PathLike):
        path = os.path.join(os.fspath(base), path)
    return path


def _callable(value: Any, where: str) -> Callable[..., Any]:
    if isinstance(value, str):
        value = _import(value, where)
    if not callable(value):
        raise ImproperlyConfigured(f"{where} must be callable, got {type(value).__name__}")
    function: Callable[..., Any] = value
    return function


def _hook(value: Any, index: int) -> Any:
    """A hook object: an instance, or a dotted path / class to instantiate."""
    where = f"FLAGKIT['HOOKS'][{index}]"
    if isinstance(value, str):
        value = _import(value, where)
    if isinstance(value, type):
        value = value()
    if not any(
        callable(getattr(value, stage, None)) for stage in ("before", "after", "error", "finally_after")
    ):
        raise ImproperlyConfigured(
            f"{where} must be a hook (before/after/error/finally_after), got {value!r}"
        )
    return value


def _callable_setting(value: Any, name: str) -> Any:
    """``FLAGKIT[name]``: ``None``, a callable, or the dotted path of one (imported)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _import(value, f"FLAGKIT[{name!r}]")
    if not callable(value):
        raise ImproperlyConfigured(f"FLAGKIT[{name!r}] must be callable, got {type(value).__name__}")
    return value


def _qa_permission(value: Any) -> QaPermission | None:
    permission: QaPermission | None = _callable_setting(value, "QA_PERMISSION")
    return permission


def _import(path: str, what: str) -> Any:
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{what}: cannot import {path!r}: {exc}") from exc


def _provider(item: Any, index: int) -> Provider:
    where = f"FLAGKIT['PROVIDERS'][{index}]"
    if isinstance(item, str):
        item = _import(item, where)
    if not isinstance(item, Provider) and callable(item):
        item = item()  # a factory (e.g. a Provider subclass or a function returning one)
    if not isinstance(item, Provider):
        raise ImproperlyConfigured(f"{where} must be a flagkit Provider, got {type(item).__name__}")
    return item


def _context_getter(value: Any) -> ContextGetter | None:
    getter: ContextGetter | None = _callable_setting(value, "CONTEXT")
    return getter
