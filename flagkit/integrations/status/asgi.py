"""The status page as an ASGI app (Starlette, FastAPI or bare ASGI servers).

::

    from starlette.routing import Mount
    from flagkit.integrations.status.asgi import StatusApp

    def staff_only(scope):        # the ASGI scope; Starlette's AuthenticationMiddleware sets scope["user"]
        user = scope.get("user")
        return bool(user and user.is_authenticated and "staff" in scope["auth"].scopes)

    routes = [Mount("/flags", app=StatusApp(flags, check=staff_only))]

``check`` may be ``async def``. Without ``flags`` the module-level default client is used.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import flagkit
from flagkit import Flags

from . import StatusPage, StatusResponse, forbidden

__all__ = ["StatusApp"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Check = Callable[[Scope], object]


class StatusApp:
    """ASGI app serving the page at its root and its JSON at ``status.json``.

    Args:
        flags: The client to show (default: the module-level default client, per request).
        check: ``check(scope) -> bool`` (or awaitable); every request it does not answer
            ``True`` gets 403.
        title: The page title.
    """

    def __init__(self, flags: Flags | None = None, *, check: Check, title: str = "flagkit status") -> None:
        self.flags = flags
        self.check = check
        self.page = StatusPage(title=title)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":  # served on its own by uvicorn: say we have no startup work
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        path = self._relative(scope)
        if path == "" and not str(scope.get("path", "")).endswith("/"):
            # relative links (status.json, the form) need the trailing slash
            location = f"{scope.get('root_path', '')}{scope.get('path', '')}/".replace("//", "/")
            await _send(send, StatusResponse(308, "text/plain", b"", {"Location": location}))
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await _send(send, StatusResponse(405, "text/plain; charset=utf-8", b"405 Method Not Allowed\n"))
            return
        if not await self._allowed(scope):
            await _send(send, forbidden())
            return
        raw = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query = {key: values[0] for key, values in raw.items() if key in ("user", "attrs", "flag")}
        client = self.flags if self.flags is not None else flagkit.get_client()
        await _send(send, self.page.respond(client, path, query))

    async def _allowed(self, scope: Scope) -> bool:
        try:
            verdict = self.check(scope)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            return verdict is True  # anything but a true answer denies
        except Exception:  # a check that fails denies
            return False

    @staticmethod
    def _relative(scope: Scope) -> str:
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root):
            path = path[len(root) :]
        return path.strip("/")


async def _send(send: Send, answer: StatusResponse) -> None:
    headers = [
        (b"content-type", answer.content_type.encode()),
        (b"content-length", str(len(answer.body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in answer.headers.items()]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
