"""Fixtures for the provider tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def no_thread_leaks() -> Iterator[None]:
    """Fail if a test leaves flagkit threads running (close() must stop them)."""
    yield
    deadline = time.monotonic() + 3
    while True:
        # The DNS helper may outlive a timed-out lookup; nothing else may.
        leaked = [
            t.name
            for t in threading.enumerate()
            if t.name.startswith("flagkit-") and t.name != "flagkit-http-dns" and t.is_alive()
        ]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not leaked, f"threads still running after close(): {leaked}"
