"""System checks run by ``manage.py check`` (and ``runserver``/``migrate``).

* ``flagkit.E001``: ``settings.FLAGKIT`` is invalid.
* ``flagkit.E002``: the flag file is invalid (one error per problem, with file and line).
* ``flagkit.E003``: the flag file cannot be read.
* ``flagkit.E004``: another configured provider failed to deliver flags.
* ``flagkit.E005``: ``FlagkitMiddleware`` comes before ``AuthenticationMiddleware`` (no
  ``request.user`` yet: user targeting would be off on every request).
* ``flagkit.W001``: ``FlagkitMiddleware`` is not installed (no per-request context).
* ``flagkit.W002``: a lint warning of the flag file (what ``flagkit validate`` warns about).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from flagkit import FileProvider, FlagkitError
from flagkit.errors import format_path

from ..._links import doc_url
from .conf import load_settings
from .flags import get_flags

__all__ = ["check_flagkit"]

MIDDLEWARE = "flagkit.integrations.django.middleware.FlagkitMiddleware"


@checks.register("flagkit")
def check_flagkit(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Validate the ``FLAGKIT`` setting, the flag file and the providers."""
    try:
        conf = load_settings()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), hint=f"See {doc_url('integrations', 'django')}.", id="flagkit.E001")]
    messages: list[checks.CheckMessage] = []
    if conf.file is not None:
        messages.extend(_check_file(conf.file))
    if conf.providers:
        file_name = FileProvider(conf.file, watch=False).name if conf.file is not None else None
        for name, status in get_flags().status().items():
            if status.state == "error" and name != file_name:
                messages.append(
                    checks.Error(f"flag provider {name} failed: {status.last_error}", id="flagkit.E004")
                )
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    order = _check_order(middleware)
    if order is not None:
        messages.append(order)
    elif not any(_is_subclass(path, MIDDLEWARE) for path in middleware):
        messages.append(
            checks.Warning(
                "FlagkitMiddleware is not in MIDDLEWARE: flags are evaluated without request context.",
                hint=f"Add {MIDDLEWARE!r} after AuthenticationMiddleware.",
                id="flagkit.W001",
            )
        )
    return messages


AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"


def _is_subclass(path: str, base_path: str) -> bool:
    """``path`` names ``base_path`` or a subclass of it (a project's own subclass counts)."""
    if path == base_path:
        return True
    try:
        cls, base = import_string(path), import_string(base_path)
    except ImportError:
        return False
    return isinstance(cls, type) and isinstance(base, type) and issubclass(cls, base)


def _check_order(middleware: list[str]) -> checks.CheckMessage | None:
    flagkit_at = next((i for i, path in enumerate(middleware) if _is_subclass(path, MIDDLEWARE)), None)
    auth_at = next((i for i, path in enumerate(middleware) if _is_subclass(path, AUTH_MIDDLEWARE)), None)
    if flagkit_at is None or auth_at is None or flagkit_at > auth_at:
        return None
    return checks.Error(
        f"{middleware[flagkit_at]} comes before {middleware[auth_at]} in MIDDLEWARE: request.user "
        "is not set yet when flagkit builds the context, so user targeting is off on every request.",
        hint=f"Move {middleware[flagkit_at]!r} after {middleware[auth_at]!r}.",
        id="flagkit.E005",
    )


def _check_file(path: str) -> list[checks.CheckMessage]:
    from flagkit._tools.check import check_document

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return [checks.Error(f"cannot read flag file {path}: {exc.strerror or exc}", id="flagkit.E003")]
    try:
        checked = check_document(data, path)
    except FlagkitError as exc:
        return [checks.Error(f"cannot load flag file {path}: {exc}", id="flagkit.E003")]
    if checked.flagset is None:
        return [
            checks.Error(str(issue), hint="Fix the flag file; `flagkit validate` shows the same.", obj=path,
                         id="flagkit.E002")
            for issue in checked.errors
        ]  # fmt: skip
    return [
        checks.Warning(
            f"{path}:{warning.line}: {format_path(warning.path)}: {warning.message} [{warning.code}]"
            if warning.line
            else f"{path}: {format_path(warning.path)}: {warning.message} [{warning.code}]",
            hint="`manage.py flagkit validate` shows the same.",
            obj=path,
            id="flagkit.W002",
        )
        for warning in checked.warnings
    ]
