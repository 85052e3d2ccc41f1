"""Fault injection for the provider tests: real threads, real exceptions.

* :func:`raise_in_thread` makes a running thread raise an exception at its next Python
  bytecode (CPython's ``PyThreadState_SetAsyncExc``): ``SystemExit`` kills it, an ``Exception``
  hits whatever it is doing, as a bug or a resource failure would.
* :func:`faulty_loader` replaces ``FlagSet.from_bytes`` (the function every provider calls
  to load a document) with one that raises for documents containing a marker.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import Any

import pytest

from flagkit import FlagSet

__all__ = ["faulty_loader", "raise_in_thread", "thread_named"]


def thread_named(prefix: str) -> threading.Thread:
    """The one live thread whose name starts with ``prefix``."""
    found = [t for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]
    assert len(found) == 1, f"expected one thread {prefix}*, found {[t.name for t in found]}"
    return found[0]


def raise_in_thread(thread: threading.Thread, exc_type: type[BaseException]) -> None:
    """Make ``thread`` raise ``exc_type`` as soon as it runs Python code again."""
    assert thread.ident is not None
    set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    affected = set_async_exc(ctypes.c_ulong(thread.ident), ctypes.py_object(exc_type))
    assert affected == 1, f"could not signal {thread.name}"


def faulty_loader(
    monkeypatch: pytest.MonkeyPatch, marker: bytes, make: Callable[[], BaseException]
) -> list[bytes]:
    """Make ``FlagSet.from_bytes`` raise ``make()`` for any document containing ``marker``.

    Returns the list of documents the patched loader was called with (all of them).
    """
    original = FlagSet.from_bytes
    calls: list[bytes] = []

    def from_bytes(cls: type[FlagSet], data: bytes | str, **options: Any) -> FlagSet:
        raw = data.encode() if isinstance(data, str) else data
        calls.append(raw)
        if marker in raw:
            raise make()
        return original(data, **options)

    monkeypatch.setattr(FlagSet, "from_bytes", classmethod(from_bytes))
    return calls
