"""ASGI middleware with a real Starlette app (TestClient, and httpx for concurrent requests)."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

import flagkit
from flagkit import DictProvider, Flags
from flagkit._default import _reset
from flagkit.integrations.asgi import BootstrapEndpoint, FlagkitMiddleware, Scope
from flagkit.testing import override_flags
from tests.helpers.anonymous import check_sticky_anonymous_rollout
from tests.helpers.web import serve_asgi

with warnings.catch_warnings():
    # Starlette >= 1.x asks for the `httpx2` package for its TestClient and warns when it
    # falls back to `httpx` (our dev dependency); the fallback works the same.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient

from .conftest import (
    ALL_ON_YAML,
    CLIENT_FLAGS_FOR_PRO,
    CLIENT_FLAGS_YAML,
    INSIDE_USER,
    OUTSIDE_USER,
    wait_for,
    write_flags,
)


def header_context(scope: Scope) -> dict[str, Any]:
    headers = {key.decode(): value.decode() for key, value in scope.get("headers", [])}
    ctx: dict[str, Any] = {}
    for header, attribute in (("x-user", "user_id"), ("x-plan", "plan"), ("x-request-id", "request_id")):
        if header in headers:
            ctx[attribute] = headers[header]
    return ctx


async def async_header_context(scope: Scope) -> dict[str, Any]:
    await asyncio.sleep(0)
    return header_context(scope)


def build_app(flags: Flags | None, **options: Any) -> tuple[Starlette, dict[str, Any]]:
    seen: dict[str, Any] = {"barrier": None, "lifespan": []}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        seen["lifespan"].append(("startup", dict(flagkit.current_context())))
        yield
        seen["lifespan"].append("shutdown")

    async def checkout(request: Request) -> PlainTextResponse:
        on = flagkit.is_enabled("new_checkout") if flags is None else flags.is_enabled("new_checkout")
        return PlainTextResponse("new checkout" if on else "old checkout")

    def sync_whoami(request: Request) -> JSONResponse:  # runs in Starlette's thread pool
        barrier = seen["barrier"]
        if barrier is not None:
            barrier.wait(timeout=60)
        client = flags or flagkit.get_client()
        return JSONResponse(
            {"context": dict(flagkit.current_context()), "on": client.is_enabled("new_checkout")}
        )

    async def async_whoami(request: Request) -> JSONResponse:
        before = dict(flagkit.current_context())
        await asyncio.sleep(0.02)
        client = flags or flagkit.get_client()
        return JSONResponse(
            {
                "before": before,
                "context": dict(flagkit.current_context()),
                "on": client.is_enabled("new_checkout"),
            }
        )

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(dict(flagkit.current_context()))
        await websocket.close()

    app = Starlette(
        routes=[
            Route("/checkout", checkout),
            Route("/whoami", sync_whoami),
            Route("/async-whoami", async_whoami),
            WebSocketRoute("/ws", ws),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(FlagkitMiddleware, flags=flags, context_getter=header_context, **options)  # type: ignore[arg-type]  # Starlette's factory protocol is narrower than a class
    return app, seen


@pytest.fixture
def file_flags(flag_file: Path) -> Iterator[Flags]:
    with Flags.from_file(flag_file) as flags:
        yield flags


def test_same_file_gives_each_user_the_expected_page(file_flags: Flags) -> None:
    app, _ = build_app(file_flags)
    with TestClient(app) as client:
        assert client.get("/checkout", headers={"X-User": str(INSIDE_USER)}).text == "new checkout"
        assert client.get("/checkout", headers={"X-User": str(OUTSIDE_USER)}).text == "old checkout"
        assert client.get("/checkout").text == "old checkout"
        assert client.get("/checkout", headers={"X-Plan": "staff"}).text == "new checkout"


def test_request_context_and_websocket(file_flags: Flags) -> None:
    app, seen = build_app(file_flags)
    with TestClient(app) as client:
        data = client.get("/whoami?x=1", headers={"X-User": "7"}).json()
        assert data["context"] == {"path": "/whoami", "method": "GET", "ip": "testclient", "user_id": "7"}
        with client.websocket_connect("/ws", headers={"X-Plan": "pro"}) as websocket:
            assert websocket.receive_json() == {"path": "/ws", "ip": "testclient", "plan": "pro"}
    assert seen["lifespan"] == [("startup", {}), "shutdown"]  # lifespan passed through, no context


def test_lifespan_and_other_scopes_pass_through_untouched() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    async def raw_app(scope: Scope, receive: Any, send: Any) -> None:
        calls.append((scope["type"], dict(flagkit.current_context())))

    def getter(scope: Scope) -> dict[str, Any]:
        raise AssertionError("not called for lifespan")

    middleware = FlagkitMiddleware(raw_app, flags=Flags(), context_getter=getter)
    asyncio.run(middleware({"type": "lifespan"}, None, None))  # type: ignore[arg-type]  # unused by raw_app
    assert calls == [("lifespan", {})]


def test_async_context_getter_and_options(file_flags: Flags) -> None:
    app, _ = build_app(file_flags, request_context=False, pin_snapshot=False)
    app.user_middleware.clear()
    app.add_middleware(
        FlagkitMiddleware, flags=file_flags, context_getter=async_header_context, request_context=False
    )  # type: ignore[arg-type]  # see build_app
    with TestClient(app) as client:
        assert client.get("/whoami", headers={"X-User": "9"}).json()["context"] == {"user_id": "9"}


def test_failing_context_getter_is_logged(file_flags: Flags, caplog: pytest.LogCaptureFixture) -> None:
    def broken(scope: Scope) -> dict[str, Any]:
        raise RuntimeError("bug")

    app, _ = build_app(file_flags)
    app.user_middleware.clear()
    app.add_middleware(FlagkitMiddleware, flags=file_flags, context_getter=broken)  # type: ignore[arg-type]  # see build_app
    with TestClient(app) as client:
        assert client.get("/whoami").json()["context"]["path"] == "/whoami"
    assert "context_getter failed" in caplog.text


def test_context_does_not_leak_between_concurrent_thread_requests(file_flags: Flags) -> None:
    app, seen = build_app(file_flags)
    count = 8
    seen["barrier"] = threading.Barrier(count)
    results: dict[int, Any] = {}
    with TestClient(app) as client:

        def call(i: int) -> None:
            headers = {
                "X-Plan": "staff" if i % 2 else "free",
                "X-User": str(OUTSIDE_USER),
                "X-Request-Id": str(i),
            }
            results[i] = client.get("/whoami", headers=headers).json()

        threads = [threading.Thread(target=call, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert len(results) == count
    for i, data in results.items():
        assert data["context"]["request_id"] == str(i)
        assert data["on"] is bool(i % 2)


def test_context_does_not_leak_between_concurrent_asyncio_requests(file_flags: Flags) -> None:
    app, _ = build_app(file_flags)

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(
                *(
                    client.get(
                        "/async-whoami",
                        headers={
                            "X-Plan": "staff" if i % 2 else "free",
                            "X-User": str(OUTSIDE_USER),
                            "X-Request-Id": str(i),
                        },
                    )
                    for i in range(10)
                )
            )

    for i, response in enumerate(asyncio.run(main())):
        data = response.json()
        assert data["before"] == data["context"]
        assert data["context"]["request_id"] == str(i)
        assert data["on"] is bool(i % 2)


@pytest.mark.slow
def test_editing_the_flag_file_changes_the_next_response(flag_file: Path, file_flags: Flags) -> None:
    app, _ = build_app(file_flags)
    outside = {"X-User": str(OUTSIDE_USER)}
    with TestClient(app) as client:
        assert client.get("/checkout", headers=outside).text == "old checkout"
        write_flags(flag_file, ALL_ON_YAML)
        assert wait_for(lambda: client.get("/checkout", headers=outside).text == "new checkout")


def test_default_client_looked_up_per_request() -> None:
    app, _ = build_app(None)  # built before configure(), as with a module-level app object
    flagkit.configure(DictProvider({"new_checkout": True}))
    try:
        with TestClient(app) as client:
            assert client.get("/checkout").text == "new checkout"
            with override_flags(new_checkout=False):
                assert client.get("/checkout").text == "old checkout"
    finally:
        _reset()


def test_variants_endpoints_are_ordinary_starlette_endpoints(file_flags: Flags) -> None:
    # Starlette's Route takes anything that is not a function for a raw ASGI app, and awaits an
    # endpoint only if inspect.iscoroutinefunction() says so (on Python 3.11 too).
    @file_flags.variants("new_checkout")
    async def home(request: Request) -> PlainTextResponse:
        """Home page."""
        return PlainTextResponse(f"default home {request.url.path}")

    @home.variant("on")
    async def _(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"new home {request.url.path}")

    @file_flags.variants("button_color")
    def color(request: Request) -> PlainTextResponse:  # sync: runs in Starlette's thread pool
        return PlainTextResponse("blue")

    @color.variant("green")
    def _green(request: Request) -> PlainTextResponse:
        return PlainTextResponse("green")

    app = Starlette(routes=[Route("/", home), Route("/color", color)])
    app.add_middleware(FlagkitMiddleware, flags=file_flags, context_getter=header_context)  # type: ignore[arg-type]  # see build_app
    with TestClient(app) as client:
        inside = client.get("/", headers={"X-User": str(INSIDE_USER)})
        assert (inside.status_code, inside.text) == (200, "new home /")
        outside = client.get("/", headers={"X-User": str(OUTSIDE_USER)})
        assert (outside.status_code, outside.text) == (200, "default home /")
        assert client.get("/", headers={"X-Plan": "staff"}).text == "new home /"
        assert client.get("/color", headers={"X-Plan": "pro"}).text == "green"
        assert client.get("/color", headers={"X-Plan": "free"}).text == "blue"


def test_bootstrap_endpoint_serves_the_client_flags_for_the_request(tmp_path: Path) -> None:
    path = tmp_path / "client.yaml"
    write_flags(path, CLIENT_FLAGS_YAML)
    flags = Flags.from_file(path, watch=False)
    app = FlagkitMiddleware(
        Starlette(routes=[Route("/flags.json", BootstrapEndpoint(flags=flags))]),
        flags=flags,
        context_getter=header_context,
    )
    with TestClient(app) as client:
        response = client.get("/flags.json", headers={"x-plan": "pro"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "no-store, private"
        assert response.json() == CLIENT_FLAGS_FOR_PRO
        assert "NaN" not in response.text
        assert client.get("/flags.json").json()["new_ui"]["value"] is False
        head = client.head("/flags.json")
        assert (head.status_code, head.content) == (200, b"")
        assert client.post("/flags.json").status_code == 405


def test_bootstrap_endpoint_context_getter_and_default_client(tmp_path: Path) -> None:
    path = tmp_path / "client.yaml"
    write_flags(path, CLIENT_FLAGS_YAML)

    async def plan_from_query(scope: Scope) -> dict[str, Any]:
        return {"plan": scope["query_string"].decode().removeprefix("plan=")}

    flagkit.configure(flags=Flags.from_file(path, watch=False))
    try:
        app = Starlette(routes=[Route("/flags.json", BootstrapEndpoint(context_getter=plan_from_query))])
        with TestClient(app) as client:
            assert client.get("/flags.json?plan=pro").json() == CLIENT_FLAGS_FOR_PRO
    finally:
        _reset()


# --- the anonymous id (issue 18) -------------------------------------------------------------------


def anonymous_app(flags: Flags, **options: Any) -> Any:
    async def flag(request: Request) -> JSONResponse:
        key = request.path_params["key"]
        return JSONResponse(
            {
                key: flags.is_enabled(key),
                "context": dict(flagkit.current_context()),
                "state": getattr(request.state, "flagkit_anonymous_id", None),
            }
        )

    app = Starlette(routes=[Route("/flag/{key}", flag)])
    return FlagkitMiddleware(app, flags=flags, anonymous_id=True, **options)


def user_header(scope: Scope) -> dict[str, Any]:
    for key, value in scope.get("headers", []):
        if key == b"x-user":
            return {"user_id": value.decode()}
    return {}


@pytest.mark.slow
def test_anonymous_visitors_get_a_sticky_id_under_uvicorn() -> None:
    flags = Flags.from_dict({"anon_rollout": {"rules": [{"serve": {"on": 50, "off": 50}}]}})
    with flags, serve_asgi(anonymous_app(flags)) as url:

        def new_client() -> httpx.Client:
            return httpx.Client(base_url=url, timeout=30)

        check_sticky_anonymous_rollout(new_client, "/flag/anon_rollout", "/flag/anon_rollout")


def test_anonymous_id_with_a_user_https_and_a_forged_cookie() -> None:
    flags = Flags.from_dict({"anon_rollout": {"rules": [{"serve": {"on": 50, "off": 50}}]}})
    with flags:
        app = anonymous_app(flags, context_getter=user_header, anonymous_cookie="anon", anonymous_max_age=60)
        client = TestClient(app, base_url="https://testserver")
        answer = client.get("/flag/anon_rollout", headers={"x-user": "42", "cookie": "anon=bad value"})
        body = answer.json()
        assert body["context"]["user_id"] == "42"
        assert "targeting_key" not in body["context"]
        assert body["context"]["anonymous_id"] == body["state"] != "bad value"
        header = answer.headers["set-cookie"]
        assert header == f"anon={body['state']}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        kept = client.get("/flag/anon_rollout", headers={"cookie": f"anon={body['state']}"})
        assert "set-cookie" not in kept.headers
        assert kept.json()["context"]["targeting_key"] == body["state"]


# --- QA overrides (issue 18) ---------------------------------------------------------------------


def qa_app(flags: Flags, permission: Any) -> Any:
    async def reason(request: Request) -> JSONResponse:
        answer = flags.evaluate(request.path_params["key"], None)
        return JSONResponse({"variant": answer.variant, "reason": str(answer.reason)})

    app = Starlette(routes=[Route("/reason/{key}", reason)])
    return FlagkitMiddleware(app, flags=flags, qa_permission=permission)


def qa_header(scope: Scope) -> bool:
    return (b"x-tester", b"yes") in scope.get("headers", [])


async def async_qa_header(scope: Scope) -> bool:
    return (b"x-tester", b"yes") in scope.get("headers", [])


async def async_never(scope: Scope) -> bool:
    return False


QA_FLAGS = {"button_color": {"variants": {"blue": "#00f", "green": "#0f0"}, "default": "blue"}}


@pytest.mark.slow
@pytest.mark.parametrize("permission", [qa_header, async_qa_header])
def test_qa_override_for_the_tester_only_under_uvicorn(permission: Any) -> None:
    flags = Flags.from_dict(QA_FLAGS)
    with flags, serve_asgi(qa_app(flags, permission)) as url:
        with httpx.Client(base_url=url, headers={"x-tester": "yes"}) as tester:
            forced = tester.get("/reason/button_color", params={"flagkit_qa": "button_color:green"})
            assert forced.json() == {"variant": "green", "reason": "QA_OVERRIDE"}
            assert (
                forced.headers["set-cookie"]
                == "flagkit_qa=button_color:green; Path=/; HttpOnly; SameSite=Lax"
            )
            assert tester.get("/reason/button_color").json()["reason"] == "QA_OVERRIDE"  # the cookie
            copied = tester.cookies["flagkit_qa"]
        with httpx.Client(base_url=url, cookies={"flagkit_qa": copied}) as visitor:
            assert visitor.get("/reason/button_color").json() == {"variant": "blue", "reason": "STATIC"}


def test_an_async_qa_permission_that_refuses_is_awaited_not_truthy() -> None:
    with Flags.from_dict(QA_FLAGS) as flags:
        client = TestClient(qa_app(flags, async_never))
        answer = client.get("/reason/button_color", params={"flagkit_qa": "button_color:green"})
        assert answer.json() == {"variant": "blue", "reason": "STATIC"}
        assert "set-cookie" not in answer.headers
