"""HttpProvider through a real forwarding proxy on 127.0.0.1 (tests/helpers/proxy.py).

``http://`` origins go through it as absolute-form requests, ``https://`` origins through a
``CONNECT`` tunnel (the certificate is still the origin's, verified). The proxy comes from
``HTTP_PROXY``/``HTTPS_PROXY`` (either case) unless ``NO_PROXY`` matches, or from ``proxy=``;
its credentials never show in errors, logs or ``status()``.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from flagkit import Flags, HttpProvider
from tests.helpers.flag_server import FlagServer
from tests.helpers.http_provider import color, doc, fast, status
from tests.helpers.proxy import ForwardProxy
from tests.helpers.saves import wait_until
from tests.helpers.tls import make_certificate, server_context
from tests.providers.test_secrets import everything_shown, leaks

pytestmark = pytest.mark.slow

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
PROXY_PASSWORD = "pr0xy/pa55+w0rd"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable from the machine running the tests."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)  # urllib ignores HTTP_PROXY under CGI


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server() -> Iterator[FlagServer]:
    with FlagServer(doc("red")) as srv:
        yield srv


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[FlagServer]:
    with FlagServer(doc("tls"), tls=server_context(certificate)) as srv:
        yield srv


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as fwd:
        yield fwd


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])
def test_http_origin_through_the_environment_proxy(
    server: FlagServer,
    proxy: ForwardProxy,
    variable: str,
    monkeypatch: pytest.MonkeyPatch,
    no_thread_leaks: None,
) -> None:
    monkeypatch.setenv(variable, proxy.url())
    with Flags(fast(server.url())) as flags:
        assert flags.wait_ready(5)
        assert color(flags) == "red"
        server.set_body(doc("blue"))
        wait_until(lambda: color(flags) == "blue")
    assert proxy.count("GET") == len(server.requests) >= 2  # every request went through it
    assert all(r.target == server.url() for r in proxy.requests)  # absolute form
    assert all("proxy-authorization" not in r.headers for r in server.requests)


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy"])
def test_https_origin_through_a_connect_tunnel(
    tls_server: FlagServer,
    proxy: ForwardProxy,
    certificate: tuple[Path, Path],
    variable: str,
    monkeypatch: pytest.MonkeyPatch,
    no_thread_leaks: None,
) -> None:
    monkeypatch.setenv(variable, proxy.url())
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # the http one must not be used
    with Flags(fast(tls_server.url(), cafile=str(certificate[0]))) as flags:
        assert flags.wait_ready(5)
        assert color(flags) == "tls"
        wait_until(lambda: len(tls_server.requests) >= 2)
    assert proxy.count("CONNECT") == len(tls_server.requests)
    assert {r.target for r in proxy.requests} == {f"127.0.0.1:{tls_server.port}"}


def test_the_tunnel_still_verifies_the_origin_certificate(
    tls_server: FlagServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    with Flags(fast(tls_server.url())) as flags:  # no cafile: the self-signed cert is refused
        wait_until(lambda: status(flags).state == "error")
        assert "CERTIFICATE_VERIFY_FAILED" in status(flags).last_error
    assert proxy.count("CONNECT") >= 1


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*"])
@pytest.mark.parametrize("variable", ["NO_PROXY", "no_proxy"])
def test_no_proxy_bypasses_the_proxy(
    server: FlagServer,
    proxy: ForwardProxy,
    variable: str,
    no_proxy: str,
    monkeypatch: pytest.MonkeyPatch,
    no_thread_leaks: None,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setenv(variable, no_proxy)
    with Flags(fast(server.url())) as flags:
        assert flags.wait_ready(5)
        assert color(flags) == "red"
    assert proxy.count() == 0
    assert len(server.requests) >= 1


def test_no_proxy_for_another_host_does_not_bypass(
    server: FlagServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setenv("NO_PROXY", "example.com,10.0.0.1")
    with Flags(fast(server.url())) as flags:
        assert flags.wait_ready(5)
    assert proxy.count("GET") >= 1


def test_proxy_false_ignores_the_environment(
    server: FlagServer, monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens: used, it would fail
    with Flags(fast(server.url(), proxy=False)) as flags:
        assert flags.wait_ready(5)
        assert color(flags) == "red"


def test_an_explicit_proxy_wins_over_the_environment_and_no_proxy(
    server: FlagServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with Flags(fast(server.url(), proxy=proxy.url())) as flags:
        assert flags.wait_ready(5)
    assert proxy.count("GET") >= 1


@pytest.mark.parametrize("origin", ["http", "https"])
def test_proxy_credentials_are_sent_and_never_shown(
    origin: str,
    server: FlagServer,
    tls_server: FlagServer,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    no_thread_leaks: None,
) -> None:
    target = server if origin == "http" else tls_server
    with ForwardProxy(credentials=("alice", PROXY_PASSWORD)) as guarded:
        good = guarded.url(f"alice:{urllib.parse.quote(PROXY_PASSWORD, safe='')}")
        monkeypatch.setenv(f"{origin.upper()}_PROXY", good)
        options = {"cafile": str(certificate[0])} if origin == "https" else {}
        with Flags(fast(target.url(), **options)) as flags:
            assert flags.wait_ready(5)
        assert guarded.requests[0].status == 200  # the proxy accepted the credentials

        # A wrong password: the proxy answers 407, and nothing shows either password.
        wrong = "wr0ng/pa55+x"
        bad = guarded.url(f"alice:{urllib.parse.quote(wrong, safe='')}")
        monkeypatch.setenv(f"{origin.upper()}_PROXY", bad)
        provider = fast(target.url(), **options)
        errors: list[BaseException] = []
        with caplog.at_level(logging.DEBUG, logger="flagkit"), Flags(provider) as flags:
            flags.on_error(lambda name, exc: errors.append(exc))
            wait_until(lambda: errors)
            assert flags.flush_listeners(5)
            assert "407" in status(flags).last_error
            shown = everything_shown(flags, provider, errors, caplog.text)
        shown.append(repr(provider._transport))
    assert leaks(shown, [PROXY_PASSWORD, wrong]) == []
    assert all("proxy-authorization" not in r.headers for r in target.requests)


def test_an_unusable_proxy_variable_is_an_error_that_quotes_no_secret(
    server: FlagServer, monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"socks5://bob:{PROXY_PASSWORD}@127.0.0.1:1080")
    with Flags(fast(server.url())) as flags:
        wait_until(lambda: status(flags).state == "error")
        error = status(flags).last_error
    assert "HTTP_PROXY" in error
    assert leaks([error], [PROXY_PASSWORD]) == []


def test_an_explicit_proxy_must_be_http() -> None:
    with pytest.raises(ValueError, match="http://"):
        HttpProvider("http://127.0.0.1/flags.yaml", proxy="socks5://127.0.0.1:1080")


def test_a_cross_origin_redirect_through_the_proxy_drops_credentials_and_stays_proxied(
    server: FlagServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, no_thread_leaks: None
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    with FlagServer(doc("red")) as origin:
        origin.mode = "redirect"
        origin.redirect_to = server.url()  # another port: another origin
        headers = {"Authorization": "Bearer s3cret-token", "X-Api-Key": "k3y-value"}
        with Flags(fast(origin.url(), headers=headers)) as flags:
            assert flags.wait_ready(5)
            assert color(flags) == "red"
        assert origin.requests[0].headers["authorization"] == "Bearer s3cret-token"
        assert "authorization" not in server.requests[0].headers
        assert "x-api-key" not in server.requests[0].headers
    targets = [r.target for r in proxy.requests]
    assert targets[:2] == [origin.url(), server.url()]  # both hops went through the proxy
