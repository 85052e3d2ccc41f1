"""HttpProvider's transport seam: custom transports against the real provider.

One transport wraps the default and counts calls (against a real server on 127.0.0.1); one
serves documents from memory, answering conditional requests like a server would. The
provider's bounds (status, size, deadline, secrets) apply to whatever a transport returns.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

import pytest

from flagkit import Flags, HttpProvider
from flagkit.providers.http import FetchRequest, FetchResponse, StdlibTransport, Transport
from tests.helpers.flag_server import FlagServer
from tests.helpers.http_provider import color, doc, fast, status
from tests.helpers.saves import wait_until
from tests.providers.test_secrets import everything_shown, leaks

URL = "https://flags.example.test/flags.yaml"


class CountingTransport(Transport):
    """Wraps another transport and counts its calls."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.calls = 0
        self.statuses: list[int] = []

    def fetch(self, request: FetchRequest) -> FetchResponse:
        self.calls += 1
        response = self.inner.fetch(request)
        self.statuses.append(response.status)
        return response


class MemoryTransport(Transport):
    """Serves one document from memory, with an ETag and 304s for a matching If-None-Match."""

    def __init__(self, body: str) -> None:
        self._lock = threading.Lock()
        self.requests: list[FetchRequest] = []
        self.answer: FetchResponse | None = None
        """A fixed answer instead of the document (to test the provider's bounds)."""
        self.set_body(body)

    def set_body(self, body: str) -> None:
        with self._lock:
            self.body = body.encode()
            self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'

    def fetch(self, request: FetchRequest) -> FetchResponse:
        with self._lock:
            self.requests.append(request)
            if self.answer is not None:
                return self.answer
            if request.headers.get("If-None-Match") == self.etag:
                return FetchResponse(304, headers={"ETag": self.etag})
            headers = {"etag": self.etag, "content-type": "application/yaml"}
            return FetchResponse(200, self.body, headers, request.url)


# --- a transport that wraps the default --------------------------------------------------


@pytest.mark.slow
def test_a_wrapping_transport_sees_every_fetch_of_the_real_provider(no_thread_leaks: None) -> None:
    counting = CountingTransport(StdlibTransport())
    with FlagServer(doc("red")) as server, Flags(fast(server.url(), transport=counting)) as flags:
        assert flags.wait_ready(5)
        assert color(flags) == "red"
        wait_until(lambda: 304 in counting.statuses)  # conditional requests still work through it
        server.set_body(doc("blue"))
        wait_until(lambda: color(flags) == "blue")
        assert counting.calls == len(server.requests)
        assert status(flags).state == "ready"


# --- a transport that serves from memory -------------------------------------------------


def test_a_memory_transport_serves_and_gets_conditional_requests(no_thread_leaks: None) -> None:
    memory = MemoryTransport(doc("red"))
    with Flags(fast(URL, transport=memory)) as flags:
        assert flags.wait_ready(5)
        assert color(flags) == "red"
        wait_until(lambda: any(r.headers.get("If-None-Match") == memory.etag for r in memory.requests))
        memory.set_body(doc("green"))
        wait_until(lambda: color(flags) == "green")
        assert status(flags).state == "ready"
    first = memory.requests[0]
    assert first.url == URL
    assert first.headers["User-Agent"] == "flagkit"
    assert first.max_bytes == 10 * 1024 * 1024
    assert first.deadline == 15.0
    assert first.timeout == 2.0


def test_the_request_carries_credentials_as_headers_never_in_the_url(no_thread_leaks: None) -> None:
    memory = MemoryTransport(doc("red"))
    provider = HttpProvider(
        "https://user:pa55w0rd@flags.example.test/f.yaml",
        headers={"X-Api-Key": "k3y-s3cret"},
        transport=memory,
    )
    with Flags(provider) as flags:
        assert flags.wait_ready(5)
    request = memory.requests[0]
    assert request.url == "https://flags.example.test/f.yaml"
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.private_headers == {"authorization", "x-api-key"}


# --- the provider's bounds apply to what a transport returns ------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (FetchResponse(500, reason="Internal Server Error"), "HTTP 500 Internal Server Error"),
        (FetchResponse(200, b"x" * 2000), "over the limit of 1,000 bytes"),
        ("not a response", "not a FetchResponse"),
        (FetchResponse(200, "a str body"), "not a FetchResponse with bytes"),  # type: ignore[arg-type]  # a wrong type on purpose
    ],
)
def test_a_bad_answer_keeps_the_last_good_flags(answer: Any, expected: str, no_thread_leaks: None) -> None:
    memory = MemoryTransport(doc("red"))
    with Flags(fast(URL, transport=memory, max_bytes=1000)) as flags:
        assert flags.wait_ready(5)
        memory.answer = answer
        wait_until(lambda: status(flags).state != "ready")
        assert expected in status(flags).last_error
        assert color(flags) == "red"
        memory.answer = None
        wait_until(lambda: status(flags).state == "ready")


def test_an_answer_after_the_deadline_is_refused(no_thread_leaks: None) -> None:
    release = threading.Event()

    class Slow(MemoryTransport):
        def fetch(self, request: FetchRequest) -> FetchResponse:
            if len(self.requests) >= 1:  # the first answer is on time, the next ones late
                release.wait(request.deadline * 3)
            return super().fetch(request)

    slow = Slow(doc("red"))
    with Flags(fast(URL, transport=slow, deadline=0.2)) as flags:
        assert flags.wait_ready(5)
        wait_until(lambda: status(flags).state != "ready")
        assert "longer than the 0.2s deadline" in status(flags).last_error
        assert color(flags) == "red"
        release.set()


def test_what_a_transport_raises_is_reported_with_secrets_masked(
    caplog: pytest.LogCaptureFixture, no_thread_leaks: None
) -> None:
    token = "Bearer t0k3n/s3cret+x"

    class Leaky(Transport):
        def fetch(self, request: FetchRequest) -> FetchResponse:
            raise ConnectionError(f"refused; sent {request.headers['Authorization']!r} to {request.url}")

    provider = fast(URL + "?key=qu3ry-s3cret", headers={"Authorization": token}, transport=Leaky())
    errors: list[BaseException] = []
    with caplog.at_level(logging.DEBUG, logger="flagkit"), Flags(provider) as flags:
        flags.on_error(lambda name, exc: errors.append(exc))
        wait_until(lambda: errors)
        assert flags.flush_listeners(5)
        shown = everything_shown(flags, provider, errors, caplog.text)
        assert "ConnectionError: refused" in status(flags).last_error
    assert leaks(shown, ["t0k3n/s3cret+x", "qu3ry-s3cret"]) == []
    assert any("***" in text for text in shown)


def test_stop_aborts_the_transport_and_returns(no_thread_leaks: None) -> None:
    entered = threading.Event()
    aborted = threading.Event()

    class Blocking(Transport):
        def fetch(self, request: FetchRequest) -> FetchResponse:
            entered.set()
            aborted.wait(30)
            raise ConnectionError("aborted")

        def abort(self) -> None:
            aborted.set()

    flags = Flags(fast(URL, transport=Blocking()))
    try:
        flags.wait_ready(0)
        wait_until(entered.is_set)
    finally:
        flags.close()
    assert aborted.is_set()


def test_tls_and_proxy_options_belong_to_the_default_transport() -> None:
    memory = MemoryTransport(doc("red"))
    for options in ({"cafile": "/x.pem"}, {"proxy": False}, {"proxy": "http://p:3128"}):
        with pytest.raises(ValueError, match="default transport"):
            HttpProvider(URL, transport=memory, **options)
    with pytest.raises(TypeError, match="fetch"):
        HttpProvider(URL, transport=object())  # type: ignore[arg-type]  # the wrong type on purpose


def test_a_duck_typed_transport_is_accepted(no_thread_leaks: None) -> None:
    class Plain:  # not a Transport subclass: one fetch method is enough
        def __init__(self) -> None:
            self.memory = MemoryTransport(doc("plain"))

        def fetch(self, request: FetchRequest) -> FetchResponse:
            return self.memory.fetch(request)

    with Flags(fast(URL, transport=Plain())) as flags:  # type: ignore[arg-type]  # structural use
        assert flags.wait_ready(5)
        assert color(flags) == "plain"


@pytest.mark.slow
def test_one_default_transport_serves_two_providers_and_a_stop_aborts_only_its_own(
    no_thread_leaks: None,
) -> None:
    shared = StdlibTransport(proxy=False)
    with FlagServer(doc("red")) as quick, FlagServer(doc("blue")) as hung:
        hung.mode = "hang"
        first = Flags(fast(quick.url(), transport=shared, interval=60))
        try:
            assert first.wait_ready(5)  # its fetch is over; it waits for its next poll
            errors: list[str] = []
            with Flags(fast(hung.url(), transport=shared, deadline=1.5)) as second:
                second.on_error(lambda name, exc: errors.append(str(exc)))
                second.wait_ready(0)  # starts its poller
                wait_until(lambda: hung.requests)  # its fetch hangs, in progress
                first.close()  # must not break the other provider's fetch
                wait_until(lambda: errors, timeout=10)
                assert "longer than the 1.5s deadline" in errors[0], errors
        finally:
            first.close()
        assert color(first) == "red"
