"""Secrets (header values, URL credentials, query values) never appear in an error, a log,
``status()`` or an ``on_error`` listener, whatever form a message gives them.

A canary token is planted in the headers and the URL; the real HTTP server, the real
http.client and faults injected into the loader and the fetcher then produce messages that
quote it raw, as ``repr`` of a ``str`` or ``bytes`` (escaped ``\\n``), JSON-escaped and
percent-encoded. Every channel is captured and searched for every form.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from flagkit import ConfigError, Flags, HttpProvider
from flagkit.providers import _request as _http
from flagkit.providers._fetch import StdlibTransport
from flagkit.providers._secrets import Redactor
from tests.helpers.faults import faulty_loader
from tests.helpers.flag_server import FlagServer
from tests.helpers.saves import wait_until

CANARIES = ["c4naryc0re-9Zx", "c4n/ary+c0re=%41", "c4n\"ary'c0re\\x"]
PASSWORD = "pa55/w0rd+x"
QUERY_TOKEN = "qu3ry+t0k/en"


def forms(secret: str) -> set[str]:
    """Every way a message may spell ``secret``."""
    quoted = {
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        urllib.parse.quote(secret),
    }
    out = {secret, repr(secret)[1:-1], repr(secret.encode())[2:-1], json.dumps(secret)[1:-1]}
    out |= quoted | {q.lower() for q in quoted}
    return out


def leaks(texts: list[str], secrets: list[str]) -> list[tuple[str, str]]:
    """(form, text) for every form of every secret found in a text (case-insensitive)."""
    every = [form.lower() for secret in secrets for form in forms(secret)]
    return [(form, text) for form in every for text in texts if form in text.lower()]


def everything_shown(
    flags: Flags, provider: HttpProvider, errors: list[BaseException], log: str
) -> list[str]:
    texts = [log, repr(provider), provider.name, provider.url, repr(flags)]
    for status in flags.status().values():
        texts += [str(status), json.dumps(status.as_dict())]
    for error in errors:
        link: BaseException | None = error
        while link is not None:
            texts += [str(link), repr(link), *map(repr, link.args)]
            if isinstance(link, ConfigError):
                texts += [repr(issue) for issue in link.issues] + [str(issue) for issue in link.issues]
            link = link.__cause__ or link.__context__
    return texts


@pytest.fixture
def server() -> Iterator[FlagServer]:
    with FlagServer("features:\n  color: red\n") as srv:
        yield srv


def secret_url(server: FlagServer) -> str:
    query = urllib.parse.urlencode({"token": QUERY_TOKEN, "env": "prod"})
    quoted_password = urllib.parse.quote(PASSWORD, safe="")
    return server.url(f"/flags.json?{query}").replace("http://", f"http://bob:{quoted_password}@")


def fast(url: str, canary: str, **options: Any) -> HttpProvider:
    return HttpProvider(
        url, headers={"Authorization": f"Bearer {canary}"}, interval=0.05, backoff=(0.05, 0.2), **options
    )


# --- construction ------------------------------------------------------------------------


@pytest.mark.parametrize("canary", CANARIES)
@pytest.mark.parametrize("bad", ["\n", "\r\n", "\r", "\x00", "\x7f", "\u2019"])
def test_a_bad_header_value_is_refused_at_construction_without_its_value(canary: str, bad: str) -> None:
    with pytest.raises(ValueError, match="'Authorization'") as info:
        HttpProvider("http://127.0.0.1:1/flags.yaml", headers={"Authorization": f"Bearer {canary}{bad}"})
    assert leaks([str(info.value), repr(info.value)], [canary]) == []
    assert info.value.__cause__ is None


def test_the_trailing_newline_of_a_token_file_gets_a_helpful_error() -> None:
    with pytest.raises(ValueError, match=r"line break.*strip\(\)"):
        HttpProvider("http://127.0.0.1:1/f.yaml", headers={"X-Api-Key": "c4naryc0re-9Zx\n"})


@pytest.mark.parametrize("canary", CANARIES)
def test_a_header_name_holding_a_value_is_refused_without_it(canary: str) -> None:
    with pytest.raises(ValueError, match="not a valid HTTP header name") as info:
        HttpProvider("http://127.0.0.1:1/flags.yaml", headers={f"Authorization: Bearer {canary}": "x"})
    assert "'Authorization'" in str(info.value)
    assert leaks([str(info.value)], [canary]) == []


@pytest.mark.parametrize("canary", CANARIES)
def test_a_url_with_control_characters_is_refused_without_it(canary: str) -> None:
    with pytest.raises(ValueError, match="control character") as info:
        HttpProvider(f"http://127.0.0.1:1/flags.yaml?token={canary}\n")
    assert leaks([str(info.value), repr(info.value)], [canary]) == []


# --- at run time -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("canary", CANARIES)
def test_http_client_header_error_does_not_leak_the_token(
    server: FlagServer,
    canary: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    no_thread_leaks: None,
) -> None:
    # What used to happen: a token read from a file keeps its newline, and http.client
    # refuses it with its repr in the message: "Invalid header value b'Bearer <token>\\n'".
    # The constructor's check is switched off here, as it did not exist then.
    monkeypatch.setattr(_http, "check_headers", lambda headers: None)
    provider = fast(server.url(), canary + "\n")
    errors: list[BaseException] = []
    with caplog.at_level(logging.DEBUG, logger="flagkit"), Flags(provider) as flags:
        flags.on_error(lambda name, exc: errors.append(exc))
        wait_until(lambda: errors)
        assert flags.flush_listeners(5)
        shown = everything_shown(flags, provider, errors, caplog.text)
    assert any("Invalid header value" in text for text in shown)  # the real error happened
    assert leaks(shown, [canary]) == []


@pytest.mark.slow
@pytest.mark.parametrize("canary", CANARIES)
def test_no_form_of_any_secret_reaches_logs_status_or_listeners(
    server: FlagServer,
    canary: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    no_thread_leaks: None,
) -> None:
    secrets = [canary, PASSWORD, QUERY_TOKEN]
    every_form = sorted(f for s in secrets for f in forms(s))
    provider = fast(secret_url(server), canary)
    errors: list[BaseException] = []
    with caplog.at_level(logging.DEBUG, logger="flagkit"), Flags(provider) as flags:
        flags.on_error(lambda name, exc: errors.append(exc))
        assert flags.wait_ready(5)
        assert server.requests[-1].headers["authorization"] == f"Bearer {canary}"  # sent as given

        # 1. A server echoing the secrets back as flag keys: ConfigError paths hold them.
        server.content_type = "application/json"
        server.set_body(json.dumps({"features": {form: {"variants": 3} for form in every_form}}))
        wait_until(lambda: len(errors) >= 1)

        # 2. The loader raising with every form in its message (and a chained cause).
        message = " | ".join(every_form) + f" | partial line: Bearer\n{canary}"

        def make() -> BaseException:
            error = RecursionError(message)
            error.__cause__ = ValueError(message)
            return error

        faulty_loader(monkeypatch, b"boom", make)
        server.set_body(json.dumps({"features": {"boom": True}}))
        wait_until(lambda: len(errors) >= 2)

        # 3. The fetcher itself failing with them (an unexpected exception type).
        def get(self: StdlibTransport, request: Any) -> Any:
            raise LookupError(message)

        monkeypatch.setattr(StdlibTransport, "fetch", get)
        wait_until(lambda: len(errors) >= 3)
        assert flags.flush_listeners(5)
        shown = everything_shown(flags, provider, errors, caplog.text)
    found = leaks(shown, secrets)
    assert found == [], found[:3]
    assert any("***" in text for text in shown)


def test_redactor_catches_every_form() -> None:
    redact = Redactor({"Bearer c4n/ary+c0re=", "x"})  # "x" is too short to redact on its own
    for form in forms("c4n/ary+c0re=") | forms("Bearer c4n/ary+c0re="):
        assert "c4n" not in redact(f"<{form}>"), form
    assert redact("Bearer max") == "Bearer max"  # the scheme word alone is not a secret
