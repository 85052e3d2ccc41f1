"""Fixtures for the provider tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def no_thread_leaks() -> Iterator[None]:
    """Fail if a test leaves flagkit threads running (close() must stop them).

    Only threads started during the test count: another test's client dropped without
    close() ends its threads once collected, which may be later (the suite runs in any order).
    """
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3
    while True:
        # The DNS helper may outlive a timed-out lookup; nothing else may.
        leaked = [
            t.name
            for t in set(threading.enumerate()) - before
            if t.name.startswith("flagkit-") and t.name != "flagkit-http-dns" and t.is_alive()
        ]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not leaked, f"threads still running after close(): {leaked}"
