"""The middleware re-checks for a fork on every request, even without snapshot pinning.

uWSGI forks workers without running Python's fork hooks; the request entry points are where
flagkit notices and restarts the providers' threads (docs/providers.md, "Fork safety").
"""

from __future__ import annotations

import warnings
from typing import Any

from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from flagkit import Flags, FlagSet, Provider
from flagkit.integrations.asgi import FlagkitMiddleware
from flagkit.integrations.flask import FlagKit
from flagkit.providers import Report

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient


class CountingProvider(Provider):
    def __init__(self) -> None:
        super().__init__("counting")
        self.restarts = 0

    def start(self, report: Report) -> None:
        report(FlagSet.from_dict({"new_checkout": True}))

    def after_fork(self, report: Report) -> None:
        self.restarts += 1
        self.start(report)


def pretend_forked(flags: Flags) -> None:
    """As in a worker forked without Python's fork hooks: the recorded PID is the parent's."""
    flags._pid = -1


def test_asgi_middleware_restarts_providers_in_a_forked_worker() -> None:
    provider = CountingProvider()
    flags = Flags(provider)

    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(flags.is_enabled("new_checkout")))

    app = FlagkitMiddleware(Starlette(routes=[Route("/", page)]), flags=flags, pin_snapshot=False)
    client = TestClient(app)
    assert client.get("/").text == "True"
    assert provider.restarts == 0
    pretend_forked(flags)
    assert client.get("/").text == "True"
    assert client.get("/").text == "True"
    assert provider.restarts == 1


def test_flask_extension_restarts_providers_in_a_forked_worker() -> None:
    provider = CountingProvider()
    flags = Flags(provider)
    app = Flask(__name__)
    app.config["FLAGKIT_PIN_SNAPSHOT"] = False
    FlagKit(app, flags=flags)

    @app.route("/")
    def page() -> Any:
        return str(flags.is_enabled("new_checkout"))

    client = app.test_client()
    assert client.get("/").text == "True"
    pretend_forked(flags)
    assert client.get("/").text == "True"
    assert provider.restarts == 1
