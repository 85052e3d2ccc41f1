"""Flask integration with a real app and Flask's test client."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask, g, render_template_string, request

import flagkit
from flagkit import DictProvider, Flags
from flagkit._default import _reset
from flagkit.integrations.flask import FlagKit, flag_required, get_flags
from flagkit.testing import FlagOverrides, override_flags
from tests.helpers.anonymous import check_sticky_anonymous_rollout
from tests.helpers.servers import run_server

from .conftest import (
    ALL_ON_YAML,
    CLIENT_FLAGS_FOR_PRO,
    CLIENT_FLAGS_YAML,
    INSIDE_USER,
    OUTSIDE_USER,
    bootstrap_from_html,
    wait_for,
    write_flags,
)

PAGE = """\
{% if flag_enabled("new_checkout") %}new checkout{% else %}old checkout{% endif %}
color={{ flag_variant("button_color") }}
value={{ flag_value("button_color", "none") }}
"""


def user_context() -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    if "X-User" in request.headers:
        ctx["user_id"] = request.headers["X-User"]
    if "X-Plan" in request.headers:
        ctx["plan"] = request.headers["X-Plan"]
    if "X-Request-Id" in request.headers:
        ctx["request_id"] = request.headers["X-Request-Id"]
    return ctx


def create_app(flag_file: Path | None = None, ext: FlagKit | None = None, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config["FLAGKIT_FILE"] = flag_file
    app.config.update(config)
    (ext or FlagKit(context_getter=user_context)).init_app(app)
    barrier_box: dict[str, threading.Barrier | None] = {"barrier": None}
    app.config["BARRIER_BOX"] = barrier_box

    @app.route("/checkout")
    def checkout() -> str:
        return render_template_string(PAGE)

    @app.route("/whoami")
    def whoami() -> dict[str, Any]:
        barrier = barrier_box["barrier"]
        if barrier is not None:
            barrier.wait(timeout=60)
        return {
            "context": dict(flagkit.current_context()),
            "new_checkout": g.flags.is_enabled("new_checkout"),
            "g_flags": g.flags is get_flags(),
        }

    @app.route("/beta")
    @flag_required("new_checkout")
    def beta() -> str:
        return "beta page"

    @app.route("/beta-or-checkout")
    @flag_required("new_checkout", redirect_to="checkout")
    def beta_or_checkout() -> str:
        return "beta page"

    @app.route("/beta-or-path")
    @flag_required("new_checkout", redirect_to="/somewhere/else")
    def beta_or_path() -> str:
        return "beta page"

    @app.route("/async-beta")
    @flag_required("new_checkout")
    async def async_beta() -> str:
        await asyncio.sleep(0)
        return "async beta page"

    @app.route("/pinned")
    def pinned() -> dict[str, bool]:
        first = flagkit.is_enabled("new_checkout") or g.flags.is_enabled("new_checkout")
        handle = g.flags.push_overrides({"new_checkout": not first})
        try:
            return {"first": first, "second": g.flags.is_enabled("new_checkout")}
        finally:
            g.flags.pop_overrides(handle)

    return app


@pytest.fixture
def app(flag_file: Path) -> Iterator[Flask]:
    app = create_app(flag_file)
    yield app
    get_flags(app).close()


def text(response: Any) -> str:
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def test_same_file_gives_each_user_the_expected_page(app: Flask) -> None:
    client = app.test_client()
    assert text(client.get("/checkout", headers={"X-User": str(INSIDE_USER)})).startswith("new checkout")
    assert text(client.get("/checkout", headers={"X-User": str(OUTSIDE_USER)})).startswith("old checkout")
    assert text(client.get("/checkout")).startswith("old checkout")
    pro = text(client.get("/checkout", headers={"X-Plan": "pro"}))
    assert "color=green" in pro
    assert "value=#0f0" in pro


def test_request_context_and_g_flags(app: Flask) -> None:
    data = (
        app.test_client()
        .get("/whoami", headers={"X-User": "7"}, environ_base={"REMOTE_ADDR": "10.0.0.9"})
        .json
    )
    assert data == {
        "context": {"path": "/whoami", "method": "GET", "ip": "10.0.0.9", "user_id": "7"},
        "new_checkout": data["new_checkout"],
        "g_flags": True,
    }
    assert flagkit.current_context() == {}


def test_flag_required(app: Flask) -> None:
    client = app.test_client()
    inside = {"X-User": str(INSIDE_USER)}
    outside = {"X-User": str(OUTSIDE_USER)}
    assert text(client.get("/beta", headers=inside)) == "beta page"
    assert client.get("/beta", headers=outside).status_code == 404
    response = client.get("/beta-or-checkout", headers=outside)
    assert response.status_code == 302
    assert response.headers["Location"] == "/checkout"
    assert client.get("/beta-or-path", headers=outside).headers["Location"] == "/somewhere/else"
    assert text(client.get("/async-beta", headers=inside)) == "async beta page"
    assert client.get("/async-beta", headers=outside).status_code == 404


def test_snapshot_pinned_for_the_request(app: Flask) -> None:
    assert app.test_client().get("/pinned", headers={"X-Plan": "staff"}).json == {
        "first": True,
        "second": True,
    }


def test_context_does_not_leak_between_concurrent_requests(app: Flask) -> None:
    count = 8
    app.config["BARRIER_BOX"]["barrier"] = threading.Barrier(count)
    results: dict[int, dict[str, Any]] = {}

    def call(i: int) -> None:
        plan = "staff" if i % 2 else "free"
        headers = {"X-Plan": plan, "X-User": str(OUTSIDE_USER), "X-Request-Id": str(i)}
        results[i] = app.test_client().get("/whoami", headers=headers).json

    threads = [threading.Thread(target=call, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == count
    for i, data in results.items():
        assert data["context"]["request_id"] == str(i)
        assert data["context"]["plan"] == ("staff" if i % 2 else "free")
        assert data["new_checkout"] is bool(i % 2)


@pytest.mark.slow
def test_editing_the_flag_file_changes_the_next_response(app: Flask, flag_file: Path) -> None:
    client = app.test_client()
    outside = {"X-User": str(OUTSIDE_USER)}
    assert text(client.get("/checkout", headers=outside)).startswith("old checkout")
    write_flags(flag_file, ALL_ON_YAML)
    assert wait_for(lambda: text(client.get("/checkout", headers=outside)).startswith("new checkout"))


def test_overrides_in_tests(app: Flask, flagkit_overrides: FlagOverrides) -> None:
    client = app.test_client()
    outside = {"X-User": str(OUTSIDE_USER)}
    with override_flags(get_flags(app), new_checkout=True):
        assert text(client.get("/beta", headers=outside)) == "beta page"
    assert client.get("/beta", headers=outside).status_code == 404
    flagkit_overrides.use(get_flags(app)).set("new_checkout", True)
    assert text(client.get("/beta", headers=outside)) == "beta page"


def test_one_extension_many_apps_and_explicit_flags() -> None:
    ext = FlagKit(context_getter=user_context)
    on = Flags.from_dict({"new_checkout": True})
    app_on = create_app(ext=ext)
    ext.init_app(app_on, flags=on)
    app_off = create_app(None, ext=FlagKit(flags=Flags.from_dict({"new_checkout": False})))
    assert text(app_on.test_client().get("/checkout")).startswith("new checkout")
    assert text(app_off.test_client().get("/checkout")).startswith("old checkout")
    assert FlagKit.get_flags(app_on) is on
    assert not hasattr(ext, "app")


def test_without_a_source_the_default_client_is_used() -> None:
    app = create_app(None)
    flagkit.configure(DictProvider({"new_checkout": True}))
    try:
        assert text(app.test_client().get("/checkout")).startswith("new checkout")
        with override_flags(new_checkout=False):
            assert text(app.test_client().get("/checkout")).startswith("old checkout")
    finally:
        _reset()


def test_config_keys(flag_file: Path) -> None:
    app = create_app(
        flag_file,
        FLAGKIT_STRICT=True,
        FLAGKIT_WATCH=False,
        FLAGKIT_REQUEST_CONTEXT=False,
        FLAGKIT_PROVIDERS=[DictProvider({"new_checkout": True})],
    )
    client = get_flags(app)
    try:
        assert client.is_enabled("new_checkout")  # providers win over the file
        with pytest.raises(flagkit.FlagNotFoundError):
            client.is_enabled("missing")
        data = app.test_client().get("/whoami", headers={"X-User": "1"}).json
        assert data["context"] == {"user_id": "1"}
    finally:
        client.close()


def test_get_flags_requires_init() -> None:
    with pytest.raises(RuntimeError, match="not initialised"):
        get_flags(Flask(__name__))


def test_failing_context_getter_is_logged(flag_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("bug")

    app = create_app(flag_file, ext=FlagKit(context_getter=broken))
    try:
        assert app.test_client().get("/whoami").json["context"]["path"] == "/whoami"
        assert "context_getter failed" in caplog.text
    finally:
        get_flags(app).close()


def test_flagkit_bootstrap_global_emits_the_client_flags_for_the_request(tmp_path: Path) -> None:
    path = tmp_path / "client.yaml"
    write_flags(path, CLIENT_FLAGS_YAML)
    app = Flask(__name__)
    FlagKit(
        app,
        flags=Flags.from_file(path, watch=False),
        context_getter=lambda: {"plan": request.args.get("plan")},
    )

    @app.route("/")
    def page() -> str:
        return render_template_string("<html>{{ flagkit_bootstrap() }}</html>")

    client = app.test_client()
    assert bootstrap_from_html(client.get("/?plan=pro").text) == CLIENT_FLAGS_FOR_PRO
    assert bootstrap_from_html(client.get("/").text)["new_ui"]["value"] is False
    get_flags(app).close()


# --- a relative FLAGKIT_FILE and another working directory (issue 16) -------------------------

FLASKSITE = Path(__file__).resolve().parent / "flasksite"


def test_relative_flag_file_is_resolved_against_the_app_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app" / "config").mkdir(parents=True)
    write_flags(tmp_path / "app" / "config" / "features.yaml", ALL_ON_YAML)
    monkeypatch.chdir(tmp_path)  # the cwd holds no config/ directory
    app = Flask("relative_app", root_path=str(tmp_path / "app"))
    app.config.update(FLAGKIT_FILE="config/features.yaml", FLAGKIT_WATCH=False)
    FlagKit(app)
    assert get_flags(app).wait_ready(30)
    assert get_flags(app).is_enabled("new_checkout")
    get_flags(app).close()


def test_file_required_fails_at_init_instead_of_serving_defaults(tmp_path: Path) -> None:
    app = Flask("required_app", root_path=str(tmp_path))
    app.config.update(FLAGKIT_FILE="missing.yaml", FLAGKIT_FILE_REQUIRED=True, FLAGKIT_WATCH=False)
    with pytest.raises(flagkit.ConfigError, match="FLAGKIT_FILE_REQUIRED") as caught:
        FlagKit(app)
    assert caught.value.source == str(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("features:\n  x: {variants: {a: 1}, default: nope}\n")
    app.config["FLAGKIT_FILE"] = "bad.yaml"
    with pytest.raises(flagkit.ConfigError, match="nope"):
        FlagKit(app)


@pytest.mark.slow
@pytest.mark.parametrize("required", ["0", "1"])
def test_gunicorn_started_from_another_directory_serves_the_apps_flag_file(
    tmp_path: Path, required: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    argv = ["-m", "gunicorn", "-b", "127.0.0.1:{port}", "flasksite:app"]  # flasksite on python_path
    env = {"FLASKSITE_FILE_REQUIRED": required}
    with run_server(argv, cwd=elsewhere, log_dir=tmp_path, env=env, python_path=[FLASKSITE]) as server:
        # Before the fix the file was looked up in `elsewhere` and every flag served its default.
        assert wait_for(lambda: httpx.get(server.url + "/", timeout=30).json() == {"new_checkout": True})


@pytest.mark.slow
def test_anonymous_visitors_get_a_sticky_id_under_gunicorn(tmp_path: Path) -> None:
    argv = [
        "-m",
        "gunicorn",
        "-b",
        "127.0.0.1:{port}",
        "-w",
        "2",
        "flasksite:app",
    ]
    env = {"FLASKSITE_ANONYMOUS_ID": "1"}
    with run_server(argv, cwd=tmp_path, log_dir=tmp_path, env=env, python_path=[FLASKSITE]) as server:
        check_sticky_anonymous_rollout(
            lambda: httpx.Client(base_url=server.url, timeout=30), "/flag/anon_rollout", "/flag/anon_rollout"
        )


def test_anonymous_id_is_off_by_default_and_a_forged_cookie_is_replaced(flag_file: Path) -> None:
    app = Flask("anon_app")
    app.config.update(FLAGKIT_FILE=str(flag_file), FLAGKIT_ANONYMOUS_ID=True)
    FlagKit(app)

    @app.get("/ctx")
    def ctx() -> Any:
        return dict(flagkit.current_context())

    client = app.test_client()
    client.set_cookie("flagkit_anon", "<script>")
    answer = client.get("/ctx", base_url="https://localhost")
    assert answer.json is not None
    assert answer.json["targeting_key"] != "<script>"
    header = answer.headers["Set-Cookie"]
    assert "Secure" in header  # HTTPS request
    assert header.startswith(f"flagkit_anon={answer.json['anonymous_id']};")

    off = Flask("anon_off")
    off.config.update(FLAGKIT_FILE=str(flag_file))
    FlagKit(off)
    off.get("/ctx")(lambda: dict(flagkit.current_context()))
    plain = off.test_client().get("/ctx")
    assert "Set-Cookie" not in plain.headers
    assert plain.json is not None
    assert "anonymous_id" not in plain.json
    get_flags(app).close()
    get_flags(off).close()


# --- QA overrides (issue 18) ---------------------------------------------------------------------


def qa_app(flag_file: Path, permission: Any) -> Flask:
    app = Flask("qa_app")
    app.config.update(FLAGKIT_FILE=str(flag_file), FLAGKIT_WATCH=False, FLAGKIT_QA_PERMISSION=permission)
    FlagKit(app)

    @app.get("/reason/<key>")
    def reason(key: str) -> Any:
        answer = get_flags().evaluate(key, None)
        return {"variant": answer.variant, "reason": str(answer.reason)}

    return app


def is_tester() -> bool:
    return request.headers.get("X-Tester") == "yes"


async def async_is_tester() -> bool:
    return request.headers.get("X-Tester") == "yes"


async def async_never() -> bool:
    return False


@pytest.mark.parametrize("permission", [is_tester, async_is_tester])
def test_qa_override_for_the_tester_only(flag_file: Path, permission: Any) -> None:
    app = qa_app(flag_file, permission)
    assert get_flags(app).wait_ready(30)
    tester, visitor = app.test_client(), app.test_client()
    tester_headers = {"X-Tester": "yes"}
    forced = tester.get("/reason/button_color?flagkit_qa=button_color:green", headers=tester_headers)
    assert forced.json == {"variant": "green", "reason": "QA_OVERRIDE"}
    header = forced.headers["Set-Cookie"]
    assert header.startswith("flagkit_qa=button_color:green;")
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert tester.get("/reason/button_color", headers=tester_headers).json == forced.json
    assert visitor.get("/reason/button_color?flagkit_qa=button_color:green").json == {
        "variant": "blue",
        "reason": "DEFAULT",
    }
    visitor.set_cookie("flagkit_qa", "button_color:green")
    assert visitor.get("/reason/button_color").json["variant"] == "blue"
    cleared = tester.get("/reason/button_color?flagkit_qa=", headers=tester_headers)
    assert cleared.json["variant"] == "blue"
    assert "flagkit_qa=;" in cleared.headers["Set-Cookie"]
    get_flags(app).close()


def test_an_async_qa_permission_that_refuses_is_awaited(flag_file: Path) -> None:
    app = qa_app(flag_file, async_never)
    answer = app.test_client().get("/reason/button_color?flagkit_qa=button_color:green")
    assert answer.json == {"variant": "blue", "reason": "DEFAULT"}
    assert "Set-Cookie" not in answer.headers
    get_flags(app).close()


# --- usage, exposures and hooks from the app's config (issue 18) -----------------------------------


class CountingHook:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def after(self, ctx: Any, details: Any) -> None:
        self.keys.append(details.key)


def test_usage_exposures_and_hooks_from_config(flag_file: Path, tmp_path: Path) -> None:
    hook, exposed = CountingHook(), []
    app = Flask("observed", root_path=str(tmp_path))
    app.config.update(
        FLAGKIT_FILE=str(flag_file),
        FLAGKIT_WATCH=False,
        FLAGKIT_USAGE=True,
        FLAGKIT_USAGE_EXPORT="usage/web-{pid}.json",  # relative to root_path
        FLAGKIT_HOOKS=[hook],
        FLAGKIT_EXPOSURES=[exposed.append],
        FLAGKIT_TRACK_ALL=True,
    )
    FlagKit(app)

    @app.get("/flag")
    def flag() -> Any:
        return {"new_checkout": get_flags().is_enabled("new_checkout")}

    flags = get_flags(app)
    assert flags.wait_ready(30)
    client = app.test_client()
    for _ in range(2):
        client.get("/flag")
    assert hook.keys == ["new_checkout", "new_checkout"]
    assert flags.flush_exposures(30)
    assert [e.key for e in exposed] == ["new_checkout"]
    exporter = app.extensions["flagkit"].usage_export
    exporter.export()
    written = json.loads((tmp_path / "usage" / f"web-{os.getpid()}.json").read_text())
    assert written["flags"]["new_checkout"]["evaluations"] == 2
    exporter.stop()
    flags.close()


def test_usage_export_needs_usage(flag_file: Path) -> None:
    app = Flask("bad_observed")
    app.config.update(FLAGKIT_FILE=str(flag_file), FLAGKIT_USAGE_EXPORT="u.json")
    with pytest.raises(ValueError, match="FLAGKIT_USAGE"):
        FlagKit(app)


def _export_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "flagkit-usage-export"}


def _wait_for(condition: Any, seconds: float = 30.0) -> bool:
    import gc
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        gc.collect()
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.slow
def test_usage_export_thread_ends_when_the_app_and_client_are_dropped(
    flag_file: Path, tmp_path: Path
) -> None:
    """The exporter holds its client weakly (issue 19): an app dropped without close()
    leaves no exporting thread behind, and its client is collected."""
    import weakref

    before = _export_threads()
    app = Flask("dropped_export", root_path=str(tmp_path))
    app.config.update(
        FLAGKIT_FILE=str(flag_file),
        FLAGKIT_WATCH=False,
        FLAGKIT_USAGE=True,
        FLAGKIT_USAGE_EXPORT="usage/web-{pid}.json",
        FLAGKIT_USAGE_EXPORT_INTERVAL=0.05,
    )
    FlagKit(app)

    @app.get("/flag")
    def flag() -> Any:
        return {"new_checkout": get_flags().is_enabled("new_checkout")}

    assert get_flags(app).wait_ready(30)
    assert app.test_client().get("/flag").status_code == 200  # starts the exporter
    started = _export_threads() - before
    assert len(started) == 1
    written = tmp_path / "usage" / f"web-{os.getpid()}.json"
    assert _wait_for(written.exists)  # the thread exports on its own
    client = weakref.ref(get_flags(app))
    del app, flag
    assert _wait_for(lambda: client() is None and not any(t.is_alive() for t in started))


@pytest.mark.slow
def test_usage_export_after_fork_follows_the_workers_fork_rule(flag_file: Path, tmp_path: Path) -> None:
    """In a fork child the exporter runs again from the first request (its own file); an
    exporter stopped in the parent stays stopped in the child (issue 19)."""
    from tests.helpers.fork import ask_child

    app = Flask("forked_export", root_path=str(tmp_path))
    app.config.update(
        FLAGKIT_FILE=str(flag_file),
        FLAGKIT_WATCH=False,
        FLAGKIT_USAGE=True,
        FLAGKIT_USAGE_EXPORT="usage/web-{pid}.json",
        FLAGKIT_USAGE_EXPORT_INTERVAL=0.05,
    )
    FlagKit(app)

    @app.get("/flag")
    def flag() -> Any:
        return {"new_checkout": get_flags().is_enabled("new_checkout")}

    assert get_flags(app).wait_ready(30)
    assert app.test_client().get("/flag").status_code == 200
    exporter = app.extensions["flagkit"].usage_export

    def child(send: Any) -> None:
        inherited = bool(_export_threads())
        app.test_client().get("/flag")
        send({"inherited": inherited, "running": exporter.running, "threads": len(_export_threads())})

    assert ask_child(child) == {"inherited": False, "running": True, "threads": 1}
    get_flags(app).close()


@pytest.mark.slow
def test_a_stopped_usage_export_stays_stopped_in_a_fork_child(flag_file: Path, tmp_path: Path) -> None:
    """The workers' fork rule (issue 19): a stopped exporter does not start again in a child."""
    from tests.helpers.fork import ask_child

    app = Flask("stopped_export", root_path=str(tmp_path))
    app.config.update(
        FLAGKIT_FILE=str(flag_file),
        FLAGKIT_WATCH=False,
        FLAGKIT_USAGE=True,
        FLAGKIT_USAGE_EXPORT="usage/web-{pid}.json",
        FLAGKIT_USAGE_EXPORT_INTERVAL=0.05,
    )
    FlagKit(app)

    @app.get("/flag")
    def flag() -> Any:
        return {"new_checkout": get_flags().is_enabled("new_checkout")}

    assert get_flags(app).wait_ready(30)
    assert app.test_client().get("/flag").status_code == 200
    app.extensions["flagkit"].usage_export.stop()

    def stopped_child(send: Any) -> None:
        app.test_client().get("/flag")
        send({"threads": len(_export_threads())})

    assert ask_child(stopped_child) == {"threads": 0}
    get_flags(app).close()
