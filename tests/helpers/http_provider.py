"""Shorthands of the HttpProvider tests: a fast-polling provider and what to read back."""

from __future__ import annotations

from typing import Any

from flagkit import Flags, HttpProvider

__all__ = ["color", "doc", "fast", "status"]


def doc(color: str) -> str:
    """A flag document whose ``color`` flag is ``color``."""
    return f"features:\n  color: {color}\n  checkout: true\n"


def color(flags: Flags) -> str:
    return flags.get_value("color", "")


def status(flags: Flags) -> Any:
    """The status of the client's only provider."""
    (only,) = flags.status().values()
    return only


def fast(url: str, **options: Any) -> HttpProvider:
    """A provider that polls often and retries quickly, for tests."""
    options.setdefault("interval", 0.05)
    options.setdefault("backoff", (0.05, 0.2))
    options.setdefault("timeout", 2.0)
    return HttpProvider(url, **options)
