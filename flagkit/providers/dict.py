"""DictProvider: static in-memory flags (tests, defaults, generated configs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..flagset import FlagSet
from .base import Provider, Report

__all__ = ["DictProvider"]


class DictProvider(Provider):
    """Flags from a Python mapping, in the flag file format.

    Args:
        data: ``{"features": {...}, "segments": {...}}`` or just the features mapping
            (``{"new_checkout": True}``).
        name: Label used in ``status()`` and error messages.

    Raises:
        ConfigError: At construction, when the definitions are invalid.
    """

    def __init__(self, data: Mapping[str, Any], name: str = "dict") -> None:
        super().__init__(name)
        self.flagset = FlagSet.from_dict(data, source=name)

    def start(self, report: Report) -> None:
        report(self.flagset)

    def after_fork(self, report: Report) -> None:
        """Nothing to restart: the flags are in memory."""
