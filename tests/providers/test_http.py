"""HttpProvider against a real threaded HTTP server on 127.0.0.1 (tests/helpers/flag_server.py)."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import ssl
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flagkit import ConfigError, Flags, FlagSet, HttpProvider, SourceError
from flagkit.providers._secrets import mask_url
from tests.helpers.flag_server import FlagServer, SilentServer
from tests.helpers.http_provider import color, doc, fast, status
from tests.helpers.saves import wait_until
from tests.helpers.tls import make_certificate, server_context

pytestmark = pytest.mark.slow


@pytest.fixture
def server() -> Iterator[FlagServer]:
    with FlagServer(doc("red")) as srv:
        yield srv


@pytest.fixture
def dead_url() -> str:
    """A URL on a port where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/flags.yaml"


# --- the happy path --------------------------------------------------------------------


def test_loads_in_background_and_serves(server: FlagServer, no_thread_leaks: None) -> None:
    with Flags(fast(server.url())) as flags:
        assert flags.wait_ready(5)
        assert color(flags) == "red"
        assert status(flags).state == "ready"
        assert status(flags).version == hashlib.sha256(server.body).hexdigest()[:16]


def test_unchanged_config_costs_a_304(server: FlagServer, no_thread_leaks: None) -> None:
    with Flags(fast(server.url())) as flags:
        assert flags.wait_ready(5)
        wait_until(lambda: server.statuses().count(304) >= 3)
        assert server.statuses()[0] == 200
        assert server.requests[-1].headers["if-none-match"] == server.etag
        assert status(flags).state == "ready"


def test_a_304_refreshes_fresh_at_not_last_success(server: FlagServer, no_thread_leaks: None) -> None:
    """An unchanged document is a successful check: fresh_at moves, last_success stays (the
    documented "no fresh load" alert fired on every unchanged source; issue 16)."""
    server.set_body(server.body.decode(), modified=time.time() - 60)  # strong: 304s
    with Flags(fast(server.url())) as flags:
        assert flags.wait_ready(5)
        loaded = status(flags)
        wait_until(lambda: server.statuses().count(304) >= 3)
        wait_until(lambda: status(flags).fresh_at > loaded.fresh_at + 0.3)
        assert status(flags).last_success == loaded.last_success
        assert "fresh_at" in status(flags).as_dict()


def test_fresh_at_stops_while_the_origin_is_down() -> None:
    """The other half of the alert: failed checks never move fresh_at."""
    with FlagServer(doc("red")) as server, Flags(fast(server.url())) as flags:
        assert flags.wait_ready(5)
        wait_until(lambda: status(flags).fresh_at > status(flags).last_success)
        server.stop()
        wait_until(lambda: status(flags).state == "stale")
        frozen = status(flags).fresh_at
        errors = status(flags).error_count
        wait_until(lambda: status(flags).error_count >= errors + 3)  # three more failed polls
        assert status(flags).fresh_at == frozen


def test_if_modified_since_when_there_is_no_etag(server: FlagServer, no_thread_leaks: None) -> None:
    server.send_etag = False
    # Modified a minute before the response's Date: a strong validator (RFC 9110 §8.8.2.2).
    server.set_body(server.body.decode(), modified=time.time() - 60)
    with Flags(fast(server.url())) as flags:
        assert flags.wait_ready(5)
        wait_until(lambda: len(server.requests) >= 2)
        assert server.requests[-1].headers["if-modified-since"] == server.last_modified
        assert "if-none-match" not in server.requests[-1].headers


def test_picks_up_a_change(server: FlagServer, no_thread_leaks: None) -> None:
    with Flags(fast(server.url())) as flags:
        assert flags.wait_ready(5)
        changes: list[frozenset[str]] = []
        flags.on_change(changes.append)
        server.set_body(doc("blue"))
        wait_until(lambda: color(flags) == "blue")
        assert flags.flush_listeners(5)
        assert changes == [frozenset({"color"})]
        assert status(flags).version == hashlib.sha256(server.body).hexdigest()[:16]


def test_json_body_by_content_type(no_thread_leaks: None) -> None:
    body = json.dumps({"features": {"color": "green"}})
    with FlagServer(body, content_type="application/json") as srv, Flags(fast(srv.url("/flags"))) as flags:
        assert flags.wait_ready(5)
        assert color(flags) == "green"


def test_start_never_blocks_on_the_network(server: FlagServer, no_thread_leaks: None) -> None:
    # The server hangs for the whole 30 s deadline: a start that waited for it would take 30 s.
    # The bounds are a fraction of that, so machine load cannot make them fail.
    server.mode = "hang"
    t0 = time.monotonic()
    provider = fast(server.url(), deadline=30)
    flags = Flags(provider)
    try:
        assert not flags.ready  # the first use starts the threads
        assert time.monotonic() - t0 < 10
        wait_until(lambda: server.requests)  # the fetch is in progress...
        assert status(flags).state == "not_ready"  # ...and has not answered
        assert color(flags) == ""  # defaults until the first load
        (poller,) = pollers(provider)
    finally:
        flags.close()  # aborts the hanging fetch
    wait_until(lambda: not poller.is_alive(), timeout=10)  # long before the deadline


def test_refresh_fetches_now(server: FlagServer, no_thread_leaks: None) -> None:
    provider = HttpProvider(server.url(), interval=3600)
    with Flags(provider) as flags:
        assert flags.wait_ready(5)
        server.set_body(doc("blue"))
        provider.refresh()
        wait_until(lambda: color(flags) == "blue")


# --- failures keep the last good flags -------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("error", "HTTP 500"),
        ("truncate", "truncated body"),
        ("garbage", "invalid JSON"),
    ],
)
def test_failure_keeps_last_good_and_recovers(
    server: FlagServer, mode: str, message: str, no_thread_leaks: None
) -> None:
    with Flags(fast(server.url())) as flags:
        errors: list[BaseException] = []
        flags.on_error(lambda name, exc: errors.append(exc))
        assert flags.wait_ready(5)
        server.set_body(doc("blue"))  # new content, so the next fetch is a full one
        server.mode = mode
        wait_until(lambda: status(flags).state == "stale")
        assert color(flags) == "red"
        assert message in status(flags).last_error
        assert flags.flush_listeners(5)
        assert errors
        assert isinstance(errors[0], ConfigError if mode == "garbage" else SourceError)
        server.mode = "ok"
        wait_until(lambda: color(flags) == "blue")
        assert status(flags).state == "ready"


def test_error_is_logged_once(
    server: FlagServer, caplog: pytest.LogCaptureFixture, no_thread_leaks: None
) -> None:
    with Flags(fast(server.url())) as flags:
        assert flags.wait_ready(5)
        with caplog.at_level(logging.ERROR, logger="flagkit"):
            server.mode = "error"
            wait_until(lambda: status(flags).error_count >= 3)
        assert sum("HTTP 500" in r.getMessage() for r in caplog.records) == 1


def test_hang_is_ended_by_the_timeout(server: FlagServer, no_thread_leaks: None) -> None:
    server.mode = "hang"
    with Flags(fast(server.url(), timeout=0.3, deadline=5)) as flags:
        wait_until(lambda: status(flags).state == "error")
        assert "timed out" in status(flags).last_error


def test_slow_trickle_is_ended_by_the_deadline(server: FlagServer, no_thread_leaks: None) -> None:
    server.mode = "trickle"  # a byte every 0.2 s: the read timeout alone never fires
    with Flags(fast(server.url(), timeout=1.0, deadline=0.8)) as flags:
        wait_until(lambda: status(flags).state == "error")
        assert "deadline" in status(flags).last_error


def test_oversized_body_with_content_length_is_refused(server: FlagServer, no_thread_leaks: None) -> None:
    server.mode = "oversize"  # 11 MiB against the default 10 MiB limit
    with Flags(fast(server.url())) as flags:
        wait_until(lambda: status(flags).state == "error")
        assert "over the limit of 10,485,760" in status(flags).last_error


def test_oversized_body_without_content_length_is_refused(server: FlagServer, no_thread_leaks: None) -> None:
    server.mode = "oversize_unsized"
    server.oversize_bytes = 50_000
    with Flags(fast(server.url(), max_bytes=10_000)) as flags:
        wait_until(lambda: status(flags).state == "error")
        assert "over the limit of 10,000" in status(flags).last_error


def test_server_going_away_keeps_last_good(server: FlagServer, no_thread_leaks: None) -> None:
    with Flags(fast(server.url())) as flags:
        assert flags.wait_ready(5)
        server.stop()
        wait_until(lambda: status(flags).state == "stale")
        assert color(flags) == "red"
        assert "Connection refused" in status(flags).last_error or "Errno" in status(flags).last_error


def test_never_good_contributes_nothing(dead_url: str, no_thread_leaks: None) -> None:
    with Flags(fast(dead_url)) as flags:
        wait_until(lambda: status(flags).state == "error")
        assert not flags.ready
        assert flags.keys() == []
        assert not flags.is_enabled("checkout")


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    provider = HttpProvider("http://127.0.0.1:9/", interval=30, backoff=(1.0, 8.0))
    delays = []
    for failures in range(1, 8):
        provider._failures = failures
        delays.append(provider._next_delay(ok=False))
    expected = [1, 2, 4, 8, 8, 8, 8]
    for delay, full in zip(delays, expected, strict=True):
        assert full / 2 <= delay <= full
    assert 27 <= provider._next_delay(ok=True) <= 33


def test_retries_slow_down_while_failing(server: FlagServer, no_thread_leaks: None) -> None:
    server.mode = "error"
    t0 = time.monotonic()
    with Flags(fast(server.url(), interval=0.01, backoff=(0.05, 0.4))) as flags:
        assert not flags.ready  # the first use starts the threads
        wait_until(lambda: len(server.requests) >= 6, timeout=30)
        elapsed = time.monotonic() - t0
    # Without backoff a 10 ms interval makes 6 requests in 0.05 s. With it the five waits
    # in between are at least 0.025 + 0.05 + 0.1 + 0.2 + 0.2 s (half of each, the jitter's
    # floor): a lower bound, which load can only make longer.
    assert elapsed >= 0.575


# --- the cache -------------------------------------------------------------------------


def test_cache_is_written_atomically_and_privately(
    server: FlagServer, tmp_path: Path, no_thread_leaks: None
) -> None:
    cache = tmp_path / "cache" / "flags.json"
    with Flags(fast(server.url(), cache_path=cache)) as flags:
        assert flags.wait_ready(5)
        wait_until(cache.exists)
        server.set_body(doc("blue"))
        wait_until(lambda: "blue" in cache.read_text())
    envelope = json.loads(cache.read_text())
    assert envelope["url"] == server.url()
    assert envelope["url_sha256"] == hashlib.sha256(server.url().encode()).hexdigest()
    assert envelope["etag"] == server.etag
    assert envelope["body"] == doc("blue")
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert [p.name for p in cache.parent.iterdir()] == ["flags.json"]  # no temp files left


def test_cache_is_loaded_when_the_server_is_unreachable(
    server: FlagServer, tmp_path: Path, no_thread_leaks: None
) -> None:
    cache = tmp_path / "flags-cache.json"
    url = server.url()
    with Flags(fast(url, cache_path=cache)) as flags:
        assert flags.wait_ready(5)
        wait_until(cache.exists)
    server.stop()
    # The app restarts while the server is down: it comes up with its last known flags.
    with Flags(fast(url, cache_path=cache)) as flags:
        assert flags.wait_ready(5)
        assert color(flags) == "red"
        wait_until(lambda: status(flags).state == "stale")
        assert status(flags).last_error is not None


def test_serving_the_cache_while_the_origin_is_down_does_not_move_fresh_at(
    server: FlagServer, tmp_path: Path, no_thread_leaks: None
) -> None:
    """A restart that cannot reach the origin serves its cache, but no check succeeded:
    fresh_at is when that payload was last fetched (the cache's ``saved_at``), never the time
    the cache was loaded, so the "updates may not be arriving" alert sees the real age
    (issue 16: before, the failed start set fresh_at to the start time)."""
    cache = tmp_path / "flags-cache.json"
    url = server.url()
    with Flags(fast(url, cache_path=cache)) as flags:
        assert flags.wait_ready(5)
        wait_until(cache.exists)
    server.stop()
    saved_at = json.loads(cache.read_text())["saved_at"]
    started = time.time()
    with Flags(fast(url, cache_path=cache)) as flags:
        assert flags.wait_ready(5)
        wait_until(lambda: status(flags).state == "stale")
        errors = status(flags).error_count
        wait_until(lambda: status(flags).error_count >= errors + 2)  # more failed polls
        assert status(flags).fresh_at == saved_at < started
        assert status(flags).last_success >= started  # the cache was loaded (a load, not a check)


def test_cache_is_served_when_the_server_hangs(
    server: FlagServer, tmp_path: Path, no_thread_leaks: None
) -> None:
    cache = tmp_path / "flags-cache.json"
    with Flags(fast(server.url(), cache_path=cache)) as flags:
        assert flags.wait_ready(5)
        wait_until(cache.exists)
    server.mode = "hang"
    # The deadline is long, but the cache is served once `timeout` passes without an answer:
    # either the fallback timer ("no answer within 0.3s") or the fetch's own read timeout
    # ("timed out") gets there first, and retries may follow. Which message is the latest is
    # a race; what matters is that the cache is served long before the 30 s deadline.
    t0 = time.monotonic()
    with Flags(fast(server.url(), cache_path=cache, timeout=0.3, deadline=30)) as flags:
        assert flags.wait_ready(15)
        assert time.monotonic() - t0 < 15  # not held for the deadline
        assert color(flags) == "red"
        wait_until(lambda: status(flags).state == "stale")
        error = status(flags).last_error
        assert error is not None
        assert server.url() in error


def test_cache_is_confirmed_with_a_304(server: FlagServer, tmp_path: Path, no_thread_leaks: None) -> None:
    cache = tmp_path / "flags-cache.json"
    server.set_body(server.body.decode(), modified=time.time() - 60)  # strong validators
    with Flags(fast(server.url(), cache_path=cache)) as flags:
        assert flags.wait_ready(5)
        wait_until(cache.exists)
    server.requests.clear()
    with Flags(fast(server.url(), cache_path=cache)) as flags:
        assert flags.wait_ready(5)
        assert server.statuses()[0] == 304  # the cached ETag was sent and confirmed
        assert status(flags).state == "ready"
        assert color(flags) == "red"


def test_cache_of_another_url_or_corrupt_is_ignored(
    dead_url: str, tmp_path: Path, no_thread_leaks: None
) -> None:
    cache = tmp_path / "flags-cache.json"
    envelope = {"flagkit_cache": 1, "url": "http://elsewhere/flags.yaml", "body": doc("red")}
    cache.write_text(json.dumps(envelope))
    with Flags(fast(dead_url, cache_path=cache)) as flags:
        wait_until(lambda: status(flags).state == "error")
        assert not flags.ready
    cache.write_text("{not json")
    with Flags(fast(dead_url, cache_path=cache)) as flags:
        wait_until(lambda: status(flags).state == "error")
        assert not flags.ready


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("/flags.yaml?env=staging", "/flags.yaml?env=prod"),  # both mask to ?env=***
        ("alice:pw-staging@", "alice:pw-prod@"),  # both mask to alice:***@
    ],
    ids=["query", "credentials"],
)
def test_cache_is_not_shared_by_urls_that_mask_alike(
    tmp_path: Path, first: str, second: str, no_thread_leaks: None
) -> None:
    def url(srv: FlagServer, part: str) -> str:
        if part.startswith("/"):
            return srv.url(part)
        return srv.url().replace("http://", f"http://{part}")

    cache = tmp_path / "flags-cache.json"
    with FlagServer(doc("staging")) as srv:
        staging, prod = url(srv, first), url(srv, second)
        assert mask_url(staging) == mask_url(prod)
        with Flags(fast(staging, cache_path=cache)) as flags:
            assert flags.wait_ready(5)
            wait_until(cache.exists)
    # The server is down when the prod app starts: it must not come up with staging's flags.
    with Flags(fast(prod, cache_path=cache)) as flags:
        wait_until(lambda: status(flags).state == "error")
        assert not flags.ready
        assert color(flags) == ""
    with Flags(fast(staging, cache_path=cache)) as flags:  # its own cache is still used
        assert flags.wait_ready(5)
        assert color(flags) == "staging"


# --- empty documents -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("", "application/yaml"), ("null", "application/yaml"), ("null", "application/json")],
)
def test_empty_document_keeps_last_good(body: str, content_type: str, no_thread_leaks: None) -> None:
    red = (
        doc("red") if "yaml" in content_type else json.dumps({"features": {"color": "red", "checkout": True}})
    )
    with FlagServer(red, content_type=content_type) as srv, Flags(fast(srv.url())) as flags:
        errors: list[BaseException] = []
        flags.on_error(lambda name, exc: errors.append(exc))
        assert flags.wait_ready(5)
        srv.set_body(body)  # a broken upload, or a CDN serving an empty object
        wait_until(lambda: status(flags).state == "stale")
        assert color(flags) == "red"
        assert flags.is_enabled("checkout")
        assert "the document is empty" in status(flags).last_error
        assert flags.flush_listeners(5)
        assert isinstance(errors[0], ConfigError)
        srv.set_body(red.replace("red", "blue"))
        wait_until(lambda: color(flags) == "blue")
        assert status(flags).state == "ready"


def test_empty_document_at_start_is_not_ready(server: FlagServer, no_thread_leaks: None) -> None:
    server.set_body("")
    with Flags(fast(server.url())) as flags:
        wait_until(lambda: status(flags).state == "error")
        assert not flags.ready
        assert "the document is empty" in status(flags).last_error


# --- redirects, credentials and TLS ----------------------------------------------------


def test_same_origin_redirect_keeps_auth(server: FlagServer, no_thread_leaks: None) -> None:
    server.mode = "redirect"
    server.redirect_to = "/elsewhere.yaml"
    provider = fast(server.url("/old.yaml"), headers={"Authorization": "Bearer s3cret-token"})
    with Flags(provider) as flags:
        flags.wait_ready(0)  # the first use starts the threads
        wait_until(lambda: len(server.requests) >= 2)
    assert server.requests[1].path == "/elsewhere.yaml"
    assert server.requests[1].headers["authorization"] == "Bearer s3cret-token"


def test_cross_origin_redirect_drops_auth(server: FlagServer, no_thread_leaks: None) -> None:
    with FlagServer(doc("red")) as origin:
        origin.mode = "redirect"
        origin.redirect_to = server.url()  # another port: another origin
        provider = fast(
            origin.url(), headers={"Authorization": "Bearer s3cret-token", "X-Api-Key": "k3y-value"}
        )
        with Flags(provider) as flags:
            assert flags.wait_ready(5)
            assert color(flags) == "red"
        assert origin.requests[0].headers["authorization"] == "Bearer s3cret-token"
        assert "authorization" not in server.requests[0].headers
        assert "x-api-key" not in server.requests[0].headers


def test_secrets_never_appear_in_reprs_errors_or_logs(
    server: FlagServer, caplog: pytest.LogCaptureFixture, no_thread_leaks: None
) -> None:
    server.mode = "error"
    secrets = ["s3cret-token", "hunter22", "qu3ry-t0ken"]
    url = server.url("/flags.yaml?token=qu3ry-t0ken").replace("http://", "http://bob:hunter22@")
    provider = fast(url, headers={"Authorization": "Bearer s3cret-token"})
    errors: list[BaseException] = []
    with caplog.at_level(logging.DEBUG, logger="flagkit"), Flags(provider) as flags:
        flags.on_error(lambda name, exc: errors.append(exc))
        wait_until(lambda: len(errors) >= 2)
        shown = [repr(provider), provider.name, provider.url, repr(flags), str(flags.status())]
        shown += [str(e) for e in errors] + [repr(e) for e in errors] + [caplog.text]
    for secret in secrets:
        for text in shown:
            assert secret not in text
    assert server.requests[0].headers["authorization"] == "Bearer s3cret-token"
    assert "***" in provider.url


def test_url_credentials_become_basic_auth(server: FlagServer, no_thread_leaks: None) -> None:
    url = server.url().replace("http://", "http://bob:hunter22@")
    with Flags(fast(url)) as flags:
        assert flags.wait_ready(5)
    assert server.requests[0].headers["authorization"] == "Basic Ym9iOmh1bnRlcjIy"


@pytest.mark.parametrize("name", ["authorization", "AUTHORIZATION", "Authorization"])
def test_headers_are_case_insensitive_and_the_callers_win(
    server: FlagServer, name: str, no_thread_leaks: None
) -> None:
    url = server.url().replace("http://", "http://bob:hunter22@")  # would be Basic auth
    headers = {name: "Bearer s3cret-token", "user-agent": "my-app/1.0"}
    with Flags(fast(url, headers=headers)) as flags:
        assert flags.wait_ready(5)
    (request, *_) = server.requests
    assert request.values("Authorization") == ["Bearer s3cret-token"]
    assert request.values("User-Agent") == ["my-app/1.0"]
    assert len(request.values("Accept")) == 1


def test_mask_url() -> None:
    assert mask_url("https://u:p@h/x?a=1&token=2") == "https://u:***@h/x?a=***&token=***"
    assert mask_url("https://tok@h/x") == "https://***@h/x"
    assert mask_url("http://h:8080/x.json") == "http://h:8080/x.json"


def test_rejects_non_http_urls() -> None:
    with pytest.raises(ValueError, match="http"):
        HttpProvider("file:///etc/passwd")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[FlagServer]:
    with FlagServer(doc("tls"), tls=server_context(certificate)) as srv:
        yield srv


def test_tls_is_verified_by_default(tls_server: FlagServer, no_thread_leaks: None) -> None:
    with Flags(fast(tls_server.url())) as flags:
        wait_until(lambda: status(flags).state == "error")
        assert "CERTIFICATE_VERIFY_FAILED" in status(flags).last_error
        assert color(flags) == ""


def test_tls_with_cafile(
    tls_server: FlagServer, certificate: tuple[Path, Path], no_thread_leaks: None
) -> None:
    with Flags(fast(tls_server.url(), cafile=str(certificate[0]))) as flags:
        assert flags.wait_ready(5)
        assert color(flags) == "tls"


def test_tls_with_ssl_context(
    tls_server: FlagServer, certificate: tuple[Path, Path], no_thread_leaks: None
) -> None:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    with Flags(fast(tls_server.url(), ssl_context=context)) as flags:
        assert flags.wait_ready(5)


def test_https_to_http_redirect_is_refused(
    tls_server: FlagServer, server: FlagServer, certificate: tuple[Path, Path], no_thread_leaks: None
) -> None:
    tls_server.mode = "redirect"
    tls_server.redirect_to = server.url()
    with Flags(fast(tls_server.url(), cafile=str(certificate[0]))) as flags:
        wait_until(lambda: status(flags).state == "error")
        assert "https to http" in status(flags).last_error
    assert server.requests == []


def test_host_names_are_resolved_within_the_deadline(server: FlagServer, no_thread_leaks: None) -> None:
    url = server.url().replace("127.0.0.1", "localhost")
    with Flags(fast(url)) as flags:
        assert flags.wait_ready(5)
        assert color(flags) == "red"


def test_redirect_loop_is_an_error(server: FlagServer, no_thread_leaks: None) -> None:
    server.mode = "redirect"
    server.redirect_to = "/flags.yaml"  # to itself
    with Flags(fast(server.url(), interval=60)) as flags:
        wait_until(lambda: status(flags).state == "error")
        assert "more than 5 redirects" in status(flags).last_error
    assert 6 <= len(server.requests) <= 12


def test_provider_can_start_again_after_stop(server: FlagServer, no_thread_leaks: None) -> None:
    provider = fast(server.url())
    with Flags(provider) as flags:
        assert flags.wait_ready(5)
    with Flags(provider) as flags:
        assert flags.ready  # what it had, at once
        assert color(flags) == "red"
        server.set_body(doc("blue"))
        wait_until(lambda: color(flags) == "blue")


def test_threads_are_named_daemons(server: FlagServer, no_thread_leaks: None) -> None:
    server.mode = "hang"  # keep a fetch (and its deadline timer) running while we look
    before = set(threading.enumerate())
    with Flags(fast(server.url(), deadline=30)) as flags:
        assert not flags.ready  # the first use starts the threads
        wait_until(lambda: server.requests)
        # Leave out the test server's own request threads.
        started = {t for t in set(threading.enumerate()) - before if "process_request_thread" not in t.name}
        assert started
        for thread in started:
            assert thread.name.startswith("flagkit-"), thread.name
            assert thread.daemon


# --- stop and restart ------------------------------------------------------------------


def pollers(provider: HttpProvider) -> list[threading.Thread]:
    """The provider's live polling threads (not its DNS, deadline or fallback helpers)."""
    name = f"flagkit-http-{provider.url}"
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def test_stop_during_a_tls_handshake_is_prompt(no_thread_leaks: None) -> None:
    with SilentServer() as silent:
        provider = HttpProvider(silent.url(), interval=0.5, timeout=30, deadline=30)
        reports: list[FlagSet | BaseException] = []
        provider.start(reports.append)
        wait_until(lambda: silent.accepted)
        time.sleep(0.3)  # the client is waiting for the ServerHello
        (poller,) = pollers(provider)
        provider.stop()  # joins for 1 s; the handshake would last until the 30 s deadline
        assert not poller.is_alive()  # so it ended because stop() shut its socket down
    assert reports == []  # an aborted fetch is not an error


def test_restart_after_stop_during_a_tls_handshake_leaves_one_poller(no_thread_leaks: None) -> None:
    with SilentServer() as silent:
        provider = HttpProvider(silent.url(), interval=0.5, timeout=30, deadline=30)
        reports: list[FlagSet | BaseException] = []
        provider.start(reports.append)
        wait_until(lambda: silent.accepted)
        time.sleep(0.3)
        (old,) = pollers(provider)
        provider.stop()
        provider.start(reports.append)
        wait_until(lambda: not old.is_alive())
        wait_until(lambda: silent.accepted >= 2)  # the new poller is handshaking
        (new,) = pollers(provider)
        assert new is not old
        time.sleep(0.6)  # past the interval: still one poller
        assert pollers(provider) == [new]
        provider.stop()
        assert not new.is_alive()  # ended within stop()'s join, not by the 30 s deadline


def test_restart_waits_for_a_poller_that_outlived_stop(server: FlagServer, no_thread_leaks: None) -> None:
    provider = fast(server.url())
    entered, release = threading.Event(), threading.Event()

    def slow_report(result: FlagSet | BaseException) -> None:
        entered.set()
        release.wait(10)  # e.g. a slow on_change listener: stop() cannot interrupt it

    provider.start(slow_report)
    assert entered.wait(5)
    (old,) = pollers(provider)
    provider.stop()  # gives up after its 1 s join
    assert old.is_alive()
    fresh: list[FlagSet | BaseException] = []
    provider.start(fresh.append)
    assert [type(r) for r in fresh] == [FlagSet]  # what it had, at once
    seen = len(server.requests)
    time.sleep(0.4)  # interval 0.05 s: a second poller would have fetched several times
    assert len(server.requests) == seen  # nobody polls while the old poller is alive
    release.set()
    wait_until(lambda: not old.is_alive())  # its own stop event is set: it ends
    server.set_body(doc("blue"))
    wait_until(
        lambda: any(isinstance(r, FlagSet) and r.flags["color"].default_variant == "blue" for r in fresh)
    )
    assert len(pollers(provider)) == 1
    provider.stop()
    assert pollers(provider) == []
