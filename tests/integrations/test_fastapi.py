"""FastAPI: the middleware, the dependency pattern from docs/integrations.md, and
`@flags.variants` endpoints, with FastAPI's real TestClient.

No ``from __future__ import annotations`` here: FastAPI reads the endpoint annotations
(``Annotated[Flags, Depends(...)]``) at route registration.
"""

import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from starlette.responses import PlainTextResponse

import flagkit
from flagkit import Flags
from flagkit._default import _reset
from flagkit.integrations.asgi import FlagkitMiddleware, Scope
from flagkit.testing import FlagOverrides, override_flags
from tests.helpers.web import serve_asgi

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


# --- overrides of the default client made before the app's lifespan configures it (issue 16) ----


def build_lifespan_app(flag_file: Path) -> FastAPI:
    """The app of docs/integrations.md: the lifespan configures the default client."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Flags.from_file(flag_file) as flags:
            flagkit.configure(flags=flags)
            yield

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(FlagkitMiddleware, context_getter=header_context)

    @app.get("/checkout")
    def checkout() -> dict[str, str]:
        return {"checkout": "new" if flagkit.is_enabled("new_checkout") else "old"}

    return app


@pytest.fixture
def fresh_default() -> Iterator[None]:
    _reset()
    yield
    _reset()


OUTSIDE = {"x-user": str(OUTSIDE_USER)}


@pytest.mark.usefixtures("fresh_default")
def test_fixture_overrides_made_before_the_lifespan_reach_the_configured_client(
    flag_file: Path, flagkit_overrides: FlagOverrides
) -> None:
    flagkit_overrides.set("new_checkout", True)
    with TestClient(build_lifespan_app(flag_file)) as client:  # runs the lifespan
        assert client.get("/checkout", headers=OUTSIDE).json() == {"checkout": "new"}
    flagkit_overrides.clear()
    with TestClient(build_lifespan_app(flag_file)) as client:
        assert client.get("/checkout", headers=OUTSIDE).json() == {"checkout": "old"}


@pytest.mark.usefixtures("fresh_default")
def test_override_flags_decorator_follows_configure_in_the_lifespan(flag_file: Path) -> None:
    @override_flags(new_checkout=True)
    def run() -> Any:
        with TestClient(build_lifespan_app(flag_file)) as client:
            return client.get("/checkout", headers=OUTSIDE).json()

    assert run() == {"checkout": "new"}
    # Undone on the client the lifespan configured, not only on the one of the start.
    assert flagkit.get_client().evaluate("new_checkout", False).reason != "OVERRIDE"


@pytest.mark.slow
@pytest.mark.usefixtures("fresh_default")
def test_overrides_reach_the_app_under_a_real_uvicorn_lifespan(flag_file: Path) -> None:
    with override_flags(new_checkout=True), serve_asgi(build_lifespan_app(flag_file)) as url:
        assert httpx.get(f"{url}/checkout", headers=OUTSIDE).json() == {"checkout": "new"}
    with serve_asgi(build_lifespan_app(flag_file)) as url:
        assert httpx.get(f"{url}/checkout", headers=OUTSIDE).json() == {"checkout": "old"}
