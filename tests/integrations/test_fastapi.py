"""FastAPI: the middleware, the dependency pattern from docs/integrations.md, and
`@flags.variants` endpoints, with FastAPI's real TestClient.

No ``from __future__ import annotations`` here: FastAPI reads the endpoint annotations
(``Annotated[Flags, Depends(...)]``) at route registration.
"""

import warnings
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, HTTPException
from starlette.responses import PlainTextResponse

from flagkit import Flags
from flagkit.integrations.asgi import FlagkitMiddleware, Scope

from .conftest import INSIDE_USER, OUTSIDE_USER, wait_for, write_flags

with warnings.catch_warnings():
    # Starlette >= 1.x asks for `httpx2` for its TestClient and warns when it falls back to
    # `httpx` (our dev dependency); the fallback works the same.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient


def header_context(scope: Scope) -> dict[str, Any]:
    headers = {key.decode(): value.decode() for key, value in scope.get("headers", [])}
    ctx: dict[str, Any] = {}
    if "x-user" in headers:
        ctx["user_id"] = headers["x-user"]
    if "x-plan" in headers:
        ctx["plan"] = headers["x-plan"]
    return ctx


def build_app(flags: Flags) -> FastAPI:
    """The app of docs/integrations.md ("FastAPI dependencies"), on a given client."""
    app = FastAPI()
    app.add_middleware(FlagkitMiddleware, context_getter=header_context, flags=flags)

    def get_flags() -> Flags:
        return flags

    flags_dep = Annotated[Flags, Depends(get_flags)]

    def require_flag(key: str) -> Any:
        def dependency(flags: flags_dep) -> None:
            if not flags.is_enabled(key):
                raise HTTPException(status_code=404)

        return Depends(dependency)

    @app.get("/checkout")
    def checkout(flags: flags_dep) -> dict[str, str]:
        return {"checkout": "new" if flags.is_enabled("new_checkout") else "old"}

    @app.get("/beta", dependencies=[require_flag("new_checkout")])
    async def beta() -> dict[str, bool]:
        return {"beta": True}

    @app.get("/color")
    async def color(flags: flags_dep, account: str = "") -> dict[str, str]:
        # explicit context merged over the middleware's
        return {"color": flags.get_value("button_color", "", {"account_id": account})}

    @flags.variants("button_color")
    async def home() -> PlainTextResponse:
        return PlainTextResponse("blue home")

    @home.variant("green")
    async def _green() -> PlainTextResponse:
        return PlainTextResponse("green home")

    app.get("/")(home)
    return app


def test_users_inside_and_outside_the_rollout(flag_file: Path) -> None:
    with Flags.from_file(flag_file) as flags:
        client = TestClient(build_app(flags))
        assert client.get("/checkout", headers={"x-user": str(INSIDE_USER)}).json() == {"checkout": "new"}
        assert client.get("/checkout", headers={"x-user": str(OUTSIDE_USER)}).json() == {"checkout": "old"}
        assert client.get("/checkout", headers={"x-user": str(OUTSIDE_USER), "x-plan": "staff"}).json() == {
            "checkout": "new"
        }


def test_require_flag_dependency_answers_404_when_off(flag_file: Path) -> None:
    with Flags.from_file(flag_file) as flags:
        client = TestClient(build_app(flags))
        assert client.get("/beta", headers={"x-user": str(INSIDE_USER)}).json() == {"beta": True}
        assert client.get("/beta", headers={"x-user": str(OUTSIDE_USER)}).status_code == 404


def test_variants_endpoint_and_explicit_context(flag_file: Path) -> None:
    with Flags.from_file(flag_file) as flags:
        client = TestClient(build_app(flags))
        assert client.get("/", headers={"x-plan": "pro"}).text == "green home"
        assert client.get("/", headers={"x-plan": "free"}).text == "blue home"
        assert client.get("/color", headers={"x-plan": "pro"}).json() == {"color": "#0f0"}


@pytest.mark.slow
def test_a_flag_file_edit_changes_the_next_response(flag_file: Path) -> None:
    with Flags.from_file(flag_file) as flags:
        client = TestClient(build_app(flags))
        outside = {"x-user": str(OUTSIDE_USER)}
        assert client.get("/checkout", headers=outside).json() == {"checkout": "old"}
        write_flags(flag_file, "features:\n  new_checkout: true\n")
        assert wait_for(lambda: client.get("/checkout", headers=outside).json() == {"checkout": "new"})
