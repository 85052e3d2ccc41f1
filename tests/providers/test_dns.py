"""A hung resolver costs one thread per provider, not one per fetch."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from flagkit import Flags, HttpProvider
from tests.helpers.flag_server import FlagServer
from tests.helpers.saves import wait_until

HUNG_HOST = "flags.hung-resolver.test"


def dns_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "flagkit-http-dns" and t.is_alive())


@pytest.mark.slow
def test_a_hung_resolver_leaves_one_lookup_thread(
    monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    release = threading.Event()
    lookups: list[str] = []
    original = socket.getaddrinfo
    with FlagServer("features:\n  color: red\n") as server:
        port = int(server.url().rsplit(":", 1)[1].split("/", 1)[0])

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host == HUNG_HOST:
                lookups.append(host)
                release.wait(30)  # a resolver that does not answer, until the test says so
                return original("127.0.0.1", *args, **kwargs)
            return original(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        before = dns_threads()
        provider = HttpProvider(
            f"http://{HUNG_HOST}:{port}/flags.yaml", interval=0.05, timeout=0.05, backoff=(0.01, 0.02)
        )
        with Flags(provider) as flags:
            name = provider.name
            wait_until(lambda: flags.status()[name].error_count >= 10)  # ten fetches timed out...
            assert "DNS lookup" in (flags.status()[name].last_error or "")
            assert dns_threads() - before == 1  # ...waiting on one lookup
            assert len(lookups) == 1
            release.set()  # the resolver answers: the pending lookup is used, then fresh ones
            wait_until(lambda: flags.get_value("color", "") == "red")
            assert flags.status()[name].state == "ready"
        wait_until(lambda: dns_threads() == before)
