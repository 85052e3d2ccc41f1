"""Run a function in a forked child and get back the one message it sends."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def ask_child(body: Callable[[Callable[[dict[str, object]], None]], None]) -> dict[str, Any]:
    """Fork; the child runs ``body(send)``; return its first message (the child must exit 0)."""
    from tests.providers.test_fork import Messages, reap, run_in_child

    pid, fd = run_in_child(body)
    try:
        message = Messages(fd).next()
    finally:
        os.close(fd)
        assert reap(pid) == 0
    return message
