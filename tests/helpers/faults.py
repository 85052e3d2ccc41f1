"""Fault injection for the provider tests: real threads, real exceptions.

* :func:`thread_named` finds a provider's thread (and checks there is exactly one).
* :func:`faulty_loader` replaces ``FlagSet.from_bytes`` (the function every provider calls
  to load a document) with one that raises for documents containing a marker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from flagkit import FlagSet

__all__ = ["LoadLog", "faulty_loader", "loader_spy", "thread_named"]


def thread_named(prefix: str) -> threading.Thread:
    """The one live thread whose name starts with ``prefix``."""
    found = [t for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]
    assert len(found) == 1, f"expected one thread {prefix}*, found {[t.name for t in found]}"
    return found[0]


class LoadLog(list[bytes]):
    """Every document the loader was called with; ``loaded`` holds those that loaded."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[bytes] = []


def faulty_loader(
    monkeypatch: pytest.MonkeyPatch, marker: bytes, make: Callable[[], BaseException]
) -> LoadLog:
    """Make ``FlagSet.from_bytes`` raise ``make()`` for any document containing ``marker``.

    Returns the log of the documents the patched loader was called with (all of them).
    """
    original = FlagSet.from_bytes
    calls = LoadLog()

    def from_bytes(cls: type[FlagSet], data: bytes | str, **options: Any) -> FlagSet:
        raw = data.encode() if isinstance(data, str) else data
        calls.append(raw)
        if marker in raw:
            raise make()
        flagset = original(data, **options)
        calls.loaded.append(raw)
        return flagset

    monkeypatch.setattr(FlagSet, "from_bytes", classmethod(from_bytes))
    return calls


def loader_spy(monkeypatch: pytest.MonkeyPatch) -> LoadLog:
    """Record every document ``FlagSet.from_bytes`` is called with, changing nothing."""
    return faulty_loader(monkeypatch, b"\0flagkit-spy-never-matches", RuntimeError)
