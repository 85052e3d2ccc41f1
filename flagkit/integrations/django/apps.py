"""The Django app config (label ``flagkit``)."""

from __future__ import annotations

import contextlib

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed


class FlagkitConfig(AppConfig):
    """Registers the system checks, follows ``FLAGKIT`` changes and starts the providers."""

    name = "flagkit.integrations.django"
    label = "flagkit"
    verbose_name = "flagkit feature flags"

    def ready(self) -> None:
        """Register checks and the settings listener, then load the flags early."""
        from . import checks  # noqa: F401 - importing registers the checks
        from .flags import get_flags, on_setting_changed

        setting_changed.connect(on_setting_changed, dispatch_uid="flagkit-setting-changed")
        # Start loading now, not on the first request. A bad setting is reported by the
        # flagkit.E001 system check, and raised again on first use.
        with contextlib.suppress(ImproperlyConfigured):
            get_flags()
