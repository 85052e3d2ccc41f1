"""The status page: its data, escaping and headers, and the Flask and ASGI adapters (real apps)."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from flagkit import DictProvider, Flags, Hook, HookContext
from flagkit.integrations.asgi import FlagkitMiddleware
from flagkit.integrations.flask import FlagKit
from flagkit.integrations.status import (
    HEADERS,
    StatusPage,
    condition_in_words,
    flag_in_words,
    json_safe,
    render_html,
)
from flagkit.integrations.status.asgi import Scope, StatusApp
from flagkit.integrations.status.flask import blueprint
from flagkit.testing import override_flags

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient

EVIL = '<script>alert("x")</script>'


@pytest.fixture
def flags(example_file: Path) -> Iterator[Flags]:
    with Flags.from_file(example_file, watch=False) as client:
        yield client


def staff_header(req: Any) -> bool:
    return bool(req.headers.get("X-Role") == "staff")


def asgi_staff(scope: Scope) -> bool:
    return (b"x-role", b"staff") in scope.get("headers", [])


def test_data_has_providers_flags_in_words_and_answers(flags: Flags) -> None:
    data = StatusPage().data(flags, {"user": "u-007", "attrs": "country=US\npremium=true\nbroken line"})
    (provider,) = data["providers"]
    assert provider["state"] == "ready"
    assert provider["version"]
    assert provider["flags"] == len(flags.keys())
    by_key = {flag["key"]: flag for flag in data["flags"]}
    assert by_key["new_search"]["owner"] == "search-team"
    assert by_key["new_search"]["rules_in_words"] == [
        'Rule 1 (staff first): if the user is in segment "staff", serve on (true).',
        'Rule 2 (premium US): if country is "US" and premium is true, serve on (true).',
        "Rule 3 (ten percent): everyone else: serve a percentage split: 10 % get on, 90 % get off "
        "(sticky by targeting_key (else user_id)).",
        "Otherwise: the default variant off (false).",
    ]
    assert by_key["legacy_export"]["rules_in_words"] == [
        "Turned off (kill switch, enabled: false): everyone gets the default variant off (false)."
    ]
    query = data["query"]
    assert query["attributes"] == {"country": "US", "premium": True}
    assert query["problems"] == ["line 3: expected key=value"]
    answers = {r["key"]: r for r in query["results"]}
    context = {"user_id": "u-007", "country": "US", "premium": True}
    every_key = flags.keys()
    for key in every_key:  # the page answers exactly what the application would get
        expected = flags.evaluate(key, None, context)
        assert (answers[key]["variant"], answers[key]["reason"], answers[key]["rule"]) == (
            expected.variant,
            str(expected.reason),
            expected.rule,
        ), key
    assert answers["new_search"]["rule"] == "premium US"
    assert answers["new_search"]["trace"][0] == "rules[0] 'staff first': no match"
    assert any("premium US" in line and "matched" in line for line in answers["new_search"]["trace"])


def test_one_flag_and_segments_in_the_trace(flags: Flags) -> None:
    data = StatusPage().data(flags, {"user": "u-042", "flag": "new_recommendation_engine"})
    (answer,) = data["query"]["results"]
    assert (answer["variant"], answer["reason"], answer["rule"]) == (
        "ai",
        "TARGETING_MATCH",
        "beta testers get ai",
    )
    assert "    ✓ segment beta_testers" in answer["trace"]
    unknown = StatusPage().data(flags, {"user": "u", "flag": "nope"})["query"]["results"]
    assert unknown == [
        {
            "key": "nope",
            "value": None,
            "variant": None,
            "reason": "ERROR",
            "rule": None,
            "error_code": "FLAG_NOT_FOUND",
            "trace": [],
        }
    ]


def test_questions_do_not_see_the_ambient_context(flags: Flags) -> None:
    with flags.context(plan="pro", email="boss@example.com"):  # the staff member's own request
        data = StatusPage().data(flags, {"user": "u-1", "flag": "new_search"})
    assert data["query"]["results"][0]["rule"] != "staff first"


def test_questions_run_no_hooks_usage_or_exposures(example_file: Path) -> None:
    class Recorder(Hook):
        def finally_after(self, hook_context: HookContext, details: Any) -> None:
            calls.append(hook_context.flag_key)

    calls: list[str] = []
    exposures: list[Any] = []
    with Flags.from_file(example_file, watch=False, usage=True, track_all=True) as flags:
        flags.add_hook(Recorder())
        flags.on_exposure(exposures.append)
        data = StatusPage().data(flags, {"user": "u-1"})
        assert len(data["query"]["results"]) == len(flags.keys())
        usage = flags.usage()
        assert usage is not None
        assert all(counts["evaluations"] == 0 for counts in usage["flags"].values())
        assert calls == []  # not the application's evaluations
        assert flags.is_enabled("new_search", {"user_id": "u-1", "email": "a@example.com"})
        flags.close()  # flushes the exposure queue
        assert calls == ["new_search"]
        assert [e.key for e in exposures] == ["new_search"]
        data = StatusPage().data(flags)
        assert data["usage"]["flags"]["new_search"]["evaluations"] == 1
        html = render_html(data)
        assert "Evaluated 1 times (on / TARGETING_MATCH: 1)" in html


def test_overrides_are_shown_without_a_trace(flags: Flags) -> None:
    with override_flags(flags, {"new_search": True}):
        (answer,) = StatusPage().data(flags, {"user": "u-1", "flag": "new_search"})["query"]["results"]
    assert (answer["value"], answer["reason"], answer["trace"]) == (True, "OVERRIDE", [])


def test_words_for_every_operator() -> None:
    assert condition_in_words({"age": {"gte": 18, "lt": 65}, "tier": {"not_in": ["trial"]}}) == (
        'age is at least 18 and age is less than 65 and tier is not one of "trial"'
    )
    assert condition_in_words({"any": [{"a": 1}, {"not": {"b": {"exists": True}}}]}) == (
        "(a is 1 or not (b is present))"
    )
    assert condition_in_words({"v": {"semver_gte": "1.2.0"}}) == 'v is version "1.2.0" or later'
    assert condition_in_words(
        {"ip": {"in_cidr": ["10.0.0.0/8"]}, "tags": {"any_element": {"starts_with": "beta"}}}
    ) == ('ip is an address in "10.0.0.0/8" and tags has an element where it starts with "beta"')
    assert (
        condition_in_words({"ends": {"at_or_after": "now"}})
        == "ends is at or after the time of the evaluation"
    )
    assert (
        condition_in_words({"name": {"eq": "now"}}) == 'name is "now"'
    )  # only time operators read the clock
    static = Flags.from_dict({"x": 3})
    flag = static.get_flag("x")
    assert flag is not None
    assert flag_in_words(flag) == ["Everyone gets 3."]
    static.close()


def test_words_show_a_ramp_where_it_stands_and_what_an_off_flag_serves() -> None:
    ramp = {"start": "2026-01-01T00:00:00Z", "steps": [1, 5, 20], "interval": "1h"}
    flags = Flags.from_dict(
        {
            "features": {
                "canary": {"rules": [{"serve": {"on": 0, "off": 100}, "ramp": ramp}]},
                "killed": {
                    "variants": {"a": 1, "b": 2},
                    "default": "a",
                    "off_variant": "b",
                    "enabled": False,
                },
                "child": {
                    "requires": ["killed"],
                    "variants": {"a": 1, "b": 2},
                    "default": "a",
                    "off_variant": "b",
                },
            }
        }
    )
    canary, killed, child = (flags.get_flag(key) for key in ("canary", "killed", "child"))
    assert canary is not None
    assert killed is not None
    assert child is not None
    at = dt.datetime(2026, 1, 1, 1, 30, tzinfo=dt.UTC).timestamp()
    assert flag_in_words(canary, now=at)[0] == (
        "Rule 1: everyone: serve a percentage split: 5 % get on, 95 % get off (sticky by "
        "targeting_key (else user_id)); ramp of on: step 2 of 3: 5 % since 2026-01-01 01:00:00 UTC; "
        "next: 20 % at 2026-01-01 02:00:00 UTC."
    )
    before = dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp()
    assert "0 % get on, 100 % get off" in flag_in_words(canary, now=before)[0]
    assert "ramp complete" in flag_in_words(canary)[0]  # the real clock: long past its last step
    assert flag_in_words(killed) == [
        "Turned off (kill switch, enabled: false): everyone gets the off variant b (2)."
    ]
    assert flag_in_words(child)[0] == "Requires killed to be on; otherwise the off variant b (2)."
    flags.close()


def test_words_and_data_say_what_a_switched_off_flag_serves() -> None:
    """The page describes "off" as the engine serves it (issue 16): a killed boolean flag whose
    default is on is off, and so is a flag whose prerequisite fails."""
    flags = Flags.from_dict(
        {
            "features": {
                "killed": {
                    "enabled": False,
                    "default": "on",
                    "rules": [{"when": {"c": "XX"}, "serve": "off"}],
                },
                "child": {"requires": ["killed"], "default": "on"},
                "strings": {"enabled": False, "variants": {"a": "A", "b": "B"}, "default": "a"},
            }
        }
    )
    killed, child, strings = (flags.get_flag(key) for key in ("killed", "child", "strings"))
    assert killed is not None
    assert child is not None
    assert strings is not None
    assert flags.is_enabled("killed") is False
    assert flag_in_words(killed) == [
        "Turned off (kill switch, enabled: false): everyone gets the false variant off (false)."
    ]
    assert flag_in_words(child)[0] == "Requires killed to be on; otherwise the false variant off (false)."
    assert flag_in_words(strings) == [
        'Turned off (kill switch, enabled: false): everyone gets the default variant a ("A").'
    ]
    data = {flag["key"]: flag for flag in StatusPage().data(flags, {})["flags"]}
    assert (data["killed"]["default_variant"], data["killed"]["off_variant"]) == ("on", "off")
    flags.close()


def test_html_escapes_everything_and_loads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(
        "features:\n"
        "  evil:\n"
        f"    description: '{EVIL}'\n"
        f"    variants: {{a: '{EVIL}', b: x}}\n"
        "    default: b\n"
        "    rules:\n"
        f"      - name: '{EVIL}'\n"
        f"        when: {{plan: '{EVIL}'}}\n"
        "        serve: a\n"
    )
    with Flags.from_file(path, watch=False) as flags:
        response = StatusPage().respond(flags, "", {"user": EVIL, "attrs": f"plan={EVIL}\n{EVIL}=1"})
    html = response.body.decode()
    assert response.status == 200
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert 'data-flag="evil"' in html
    for external in ("http://", "https://", "<link", "<script", "src="):
        assert external not in html
    assert response.headers == HEADERS
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_json_is_strict_json() -> None:
    assert json_safe({"a": math.nan, "b": [math.inf, 1.5], 3: object}) == {
        "a": "nan",
        "b": ["inf", 1.5],
        "3": str(object),
    }
    with Flags.from_dict({"ratio": 0.5}) as flags:
        response = StatusPage().respond(flags, "status.json", {})
        assert response.content_type == "application/json"
        assert json.loads(response.body)["flags"][0]["variants"] == {"0.5": 0.5}
        assert StatusPage().respond(flags, "nope", {}).status == 404


# --- Flask ------------------------------------------------------------------------------------


def flask_app(flags: Flags | None, example_file: Path | None = None) -> Flask:
    app = Flask(__name__)
    if example_file is not None:
        app.config["FLAGKIT_FILE"] = str(example_file)
        app.config["FLAGKIT_WATCH"] = False
        FlagKit(app, context_getter=lambda: {"user_id": request.headers.get("X-User")})
    app.register_blueprint(blueprint(flags, check=staff_header), url_prefix="/flags")
    return app


def test_flask_blueprint(flags: Flags) -> None:
    client = flask_app(flags).test_client()
    denied = client.get("/flags/")
    assert denied.status_code == 403
    assert denied.data == b"403 Forbidden\n"
    assert denied.headers["Cache-Control"] == "no-store"
    page = client.get("/flags/?user=u-007&flag=new_search", headers={"X-Role": "staff"})
    assert page.status_code == 200
    assert page.content_type == "text/html; charset=utf-8"
    assert 'data-flag="new_search"' in page.text
    assert page.headers["Content-Security-Policy"] == HEADERS["Content-Security-Policy"]
    data = client.get("/flags/status.json?user=u-042", headers={"X-Role": "staff"}).get_json()
    assert {r["key"] for r in data["query"]["results"]} == set(flags.keys())
    assert client.post("/flags/", headers={"X-Role": "staff"}).status_code == 405  # read-only
    assert client.get("/flags/other", headers={"X-Role": "staff"}).status_code == 404


def test_flask_blueprint_uses_the_extension_client(example_file: Path) -> None:
    app = flask_app(None, example_file)
    data = app.test_client().get("/flags/status.json", headers={"X-Role": "staff"}).get_json()
    assert data["providers"][0]["name"].startswith("file:")
    assert len(data["flags"]) == 12


def test_a_failing_check_denies(flags: Flags) -> None:
    def broken(req: Any) -> bool:
        raise RuntimeError("auth backend down")

    app = Flask(__name__)
    app.register_blueprint(blueprint(flags, check=broken), url_prefix="/flags")
    assert app.test_client().get("/flags/").status_code == 403


# --- ASGI -------------------------------------------------------------------------------------


def test_asgi_app_mounted_in_starlette(flags: Flags) -> None:
    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("home")

    async def async_check(scope: Scope) -> bool:
        return asgi_staff(scope)

    app = Starlette(
        routes=[
            Route("/", home),
            Mount("/ops/flags", app=StatusApp(flags, check=async_check, title="Shop flags")),
        ]
    )
    app.add_middleware(FlagkitMiddleware, flags=flags)
    with TestClient(app) as client:
        assert client.get("/ops/flags/").status_code == 403
        redirect = client.get("/ops/flags", headers={"X-Role": "staff"}, follow_redirects=False)
        assert redirect.status_code in (307, 308)  # the relative links need the slash
        assert redirect.headers["location"].endswith("/ops/flags/")
        page = client.get(
            "/ops/flags/", params={"user": "u-007", "flag": "button_color"}, headers={"X-Role": "staff"}
        )
        assert page.status_code == 200
        assert "<title>Shop flags</title>" in page.text
        assert page.headers["x-frame-options"] == "DENY"
        data = client.get(
            "/ops/flags/status.json",
            params={"user": "u-1", "attrs": "country=DE"},
            headers={"X-Role": "staff"},
        ).json()
        answers = {r["key"]: r for r in data["query"]["results"]}
        assert (answers["button_color"]["variant"], answers["button_color"]["rule"]) == (
            "green",
            "eu gets green",
        )
        assert client.post("/ops/flags/", headers={"X-Role": "staff"}).status_code == 405
        assert client.get("/").text == "home"


def test_asgi_app_on_its_own_uses_the_default_client(flags: Flags) -> None:
    import flagkit
    from flagkit._default import _reset

    flagkit.configure(flags=flags)
    try:
        with TestClient(StatusApp(check=asgi_staff)) as client:
            data = client.get("/status.json", headers={"X-Role": "staff"}).json()
            assert len(data["flags"]) == len(flags.keys())
    finally:
        _reset()


def test_code_default_and_failed_evaluations_are_shown_in_words() -> None:
    flags = Flags.from_dict(
        {"features": {"cd": {"variants": {"x": "X"}, "default": "code_default"}, "b": True}}, usage=True
    )
    flags.get_value("cd", "mine")
    flags.get_value("b", "a string")  # a type mismatch: counted under no variant, reason ERROR
    data = StatusPage().data(flags, {"user": "u-1"})
    (answer,) = [r for r in data["query"]["results"] if r["key"] == "cd"]
    assert answer["value"] == "(the caller's default: code_default)"
    assert answer["variant"] is None
    html = render_html(data)
    assert "code_default / DEFAULT: 1" in html
    assert "no variant / ERROR: 1" in html
    flags.close()


# --- the access check: only a true answer lets anyone in ----------------------------------------


async def async_staff_header(req: Any) -> bool:
    return bool(req.headers.get("X-Role") == "staff")


async def async_never(req: Any) -> bool:
    return False


def test_flask_awaits_an_async_check(flags: Flags) -> None:
    # The blueprint called the async check, got a coroutine object (truthy) and served the page
    # and status.json to anyone.
    app = Flask(__name__)
    app.register_blueprint(blueprint(flags, check=async_never), url_prefix="/never")
    app.register_blueprint(blueprint(flags, check=async_staff_header, name="staff"), url_prefix="/flags")
    client = app.test_client()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        for path in ("/never/", "/never/status.json"):
            assert client.get(path, headers={"X-Role": "staff"}).status_code == 403
        assert client.get("/flags/status.json").status_code == 403
        assert client.get("/flags/status.json", headers={"X-Role": "staff"}).status_code == 200


@pytest.mark.parametrize("answer", [1, "yes", ["staff"], object(), None])
def test_anything_but_true_denies(flags: Flags, answer: object) -> None:
    app = Flask(__name__)
    app.register_blueprint(blueprint(flags, check=lambda req: answer), url_prefix="/flags")
    assert app.test_client().get("/flags/status.json").status_code == 403

    async def asgi_check(scope: Scope) -> object:
        return answer

    with TestClient(StatusApp(flags, check=asgi_check)) as client:
        assert client.get("/status.json").status_code == 403


def test_a_sync_check_returning_a_coroutine_is_awaited(flags: Flags) -> None:
    app = Flask(__name__)
    app.register_blueprint(blueprint(flags, check=lambda req: async_never(req)), url_prefix="/flags")
    assert app.test_client().get("/flags/").status_code == 403


def test_an_async_check_without_asgiref_is_refused_at_set_up(
    flags: Flags, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "asgiref.sync", None)  # as if flask[async] were not installed
    with pytest.raises(TypeError, match=r"flask\[async\]"):
        blueprint(flags, check=async_never)
    blueprint(flags, check=staff_header)  # a sync check needs nothing


def test_an_awaitable_the_adapter_cannot_await_denies(caplog: pytest.LogCaptureFixture) -> None:
    from flagkit.integrations.status import allowed

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not allowed(async_staff_header, None)
    assert "cannot await" in caplog.text


class _Awaitable:
    """An awaitable that is not a coroutine (a sync check may return one)."""

    def __init__(self, answer: object) -> None:
        self.answer = answer

    def __await__(self) -> Any:
        return self.answer
        yield  # a generator: awaiting it returns the answer


async def _async_answer(answer: object) -> object:
    return answer


async def _async_raises(req: Any) -> bool:
    raise PermissionError("no")


def _sync_raises(req: Any) -> bool:
    raise PermissionError("no")


class _AsyncCallable:
    async def __call__(self, req: Any) -> object:
        return False


DENYING_CHECKS: dict[str, Any] = {
    "async False": async_never,
    "async raises": _async_raises,
    "sync raises": _sync_raises,
    "async __call__ False": _AsyncCallable(),
    "sync returning a coroutine of 'yes'": lambda req: _async_answer("yes"),
    "sync returning an awaitable of 1": lambda req: _Awaitable(1),
    "sync returning an awaitable of None": lambda req: _Awaitable(None),
    "1": lambda req: 1,
    "'yes'": lambda req: "yes",
    "object equal to everything": lambda req: type("Eq", (), {"__eq__": lambda s, o: True})(),
}


@pytest.mark.parametrize("name", list(DENYING_CHECKS))
def test_no_check_but_a_true_answer_serves_anything(flags: Flags, name: str) -> None:
    # Adversarial review of issue 17: every kind of check, every route and method, both adapters.
    check = DENYING_CHECKS[name]
    app = Flask(__name__)
    app.register_blueprint(blueprint(flags, check=check), url_prefix="/flags")
    client = app.test_client()
    asgi = Starlette(routes=[Mount("/flags", app=StatusApp(flags, check=check))])
    with warnings.catch_warnings(), TestClient(asgi, raise_server_exceptions=False) as asgi_client:
        warnings.simplefilter("error", RuntimeWarning)  # no coroutine left unawaited
        for path in ("/flags/", "/flags/status.json", "/flags/status.json?user=u1&flag=new_search"):
            for method in ("GET", "HEAD"):
                assert client.open(path, method=method).status_code == 403, (path, method)
                assert asgi_client.request(method, path).status_code == 403, (path, method)
    allowed = {"sync True": lambda req: True, "awaitable True": lambda req: _Awaitable(True)}
    for check in allowed.values():  # the same routes do serve a true answer
        app = Flask(__name__)
        app.register_blueprint(blueprint(flags, check=check), url_prefix="/flags")
        assert app.test_client().get("/flags/status.json").status_code == 200


PAGE_IN_A_FRESH_PROCESS = """
import sys
{setup}
import flagkit
from flagkit.integrations.status import StatusPage, render_html
import flagkit.integrations.status.{adapter}
with flagkit.Flags.from_file({path!r}, watch=False) as flags:
    data = StatusPage().data(flags, {{"user": "u-003", "attrs": "country=US"}})
    assert any(r["trace"] for r in data["query"]["results"]), data
    render_html(data)
loaded = [m for m in sys.modules if m.startswith("flagkit.cli")]
if "argparse" in sys.modules and not before:
    loaded.append("argparse")
print(",".join(loaded))
"""

DJANGO_SETUP = """
import django
from django.conf import settings
settings.configure()
django.setup()
before = "argparse" in sys.modules  # Django's own management machinery imports it
"""


@pytest.mark.slow  # a fresh interpreter: what the web process loads
@pytest.mark.parametrize("adapter", ["asgi", "flask", "django"])
def test_the_page_loads_no_command_line_code(example_file: Path, adapter: str) -> None:
    # The status page imported flagkit.cli (21 modules, argparse) into the web process to
    # explain a flag (issue 19): the adapter is imported and a question answered, then checked.
    setup = DJANGO_SETUP if adapter == "django" else "before = False"
    code = PAGE_IN_A_FRESH_PROCESS.format(setup=setup, adapter=adapter, path=str(example_file))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_providers_table_shows_freshness_from_fresh_at() -> None:
    # It showed last_success (the last load that changed something): a poller that keeps
    # confirming the same flags looked stale there. fresh_at is the last successful check.
    provider = DictProvider({"features": {"x": True}})
    with Flags(provider) as flags:
        assert flags.wait_ready(30)
        provider.fresh_at = dt.datetime(2031, 2, 3, 4, 5, 6, tzinfo=dt.UTC).timestamp()
        (status,) = flags.status().values()
        assert status.fresh_at == provider.fresh_at != status.last_success
        html = render_html(StatusPage().data(flags))
    header = html[
        html.index('<table id="providers">') : html.index("</tr>", html.index('<table id="providers">'))
    ]
    assert "Fresh as of" in header
    row = html[html.index("<td><code>dict</code></td>") :].split("</tr>")[0]
    assert "2031-02-03T04:05:06Z" in row
