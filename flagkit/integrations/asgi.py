"""ASGI middleware: per-request flag context for Starlette, FastAPI or any ASGI app.

::

    from flagkit.integrations.asgi import FlagkitMiddleware

    def context_getter(scope):
        return {"user_id": scope["headers"] ...}     # anything from the ASGI scope

    app = FlagkitMiddleware(app, context_getter=context_getter)
    # Starlette / FastAPI:  app.add_middleware(FlagkitMiddleware, context_getter=context_getter)

For each ``http`` and ``websocket`` connection the middleware sets the ambient context
(``context_getter(scope)`` merged over ``path``, ``method`` and ``ip``) and pins one flag
version for the whole request; the app's tasks and threads spawned with the request's
context (``anyio.to_thread``, ``asyncio.create_task``) see it too. ``lifespan`` and other
scope types pass through untouched.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from contextlib import ExitStack
from typing import Any
from urllib.parse import parse_qs

import flagkit
from flagkit import Flags

from . import _anonymous, _qa

__all__ = ["ASGIApp", "BootstrapEndpoint", "ContextGetter", "FlagkitMiddleware", "QaPermission", "Scope"]

logger = logging.getLogger("flagkit")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ContextGetter = Callable[[Scope], Mapping[str, Any] | Awaitable[Mapping[str, Any] | None] | None]
"""``context_getter(scope) -> dict`` (may be ``async def``)."""
QaPermission = Callable[[Scope], bool | Awaitable[bool]]
"""``qa_permission(scope) -> True`` for a tester (may be ``async def``)."""


class FlagkitMiddleware:
    """Sets the ambient flag context per ASGI request.

    Args:
        app: The ASGI app to wrap.
        flags: The client; default: the module-level default client, looked up per request
            (so ``flagkit.configure()`` may run after the app is built).
        context_getter: ``scope -> mapping`` (sync or async) with the app's attributes,
            e.g. a user id from a header, cookie or ``scope["user"]``.
        request_context: Add ``path``, ``method`` (HTTP) and ``ip`` from the scope.
        pin_snapshot: Answer from one flag version for the whole request.
        anonymous_id: Give each browser a random id in a cookie, used as the targeting key
            when the context has no user (see :mod:`flagkit.integrations._anonymous`).
        anonymous_cookie: The cookie's name.
        anonymous_max_age: The cookie's lifetime in seconds (one year).
        qa_permission: ``scope -> True`` (sync or async) for testers, who may then force
            variants for their own browser with ``?flagkit_qa=key:variant`` (see
            :mod:`flagkit.integrations._qa`). Off when ``None``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        flags: Flags | None = None,
        context_getter: ContextGetter | None = None,
        request_context: bool = True,
        pin_snapshot: bool = True,
        anonymous_id: bool = False,
        anonymous_cookie: str = _anonymous.COOKIE,
        anonymous_max_age: int = _anonymous.MAX_AGE,
        qa_permission: QaPermission | None = None,
    ) -> None:
        self.app = app
        self.flags = flags
        self.context_getter = context_getter
        self.request_context = request_context
        self.pin_snapshot = pin_snapshot
        self.anonymous_id = anonymous_id
        self.anonymous_cookie = anonymous_cookie
        self.anonymous_max_age = anonymous_max_age
        self.qa_permission = qa_permission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        ctx = await self._context(scope)
        if self.anonymous_id:
            send = self._anonymous(scope, ctx, send)
        forced: dict[str, str] | None = None
        if self.qa_permission is not None:
            forced, send = await self._qa(scope, self.qa_permission, send)
        client = self.flags if self.flags is not None else flagkit.get_client()
        with ExitStack() as stack:
            stack.enter_context(client.context(**ctx))  # the client's also re-checks for a fork
            if forced:  # a tester's QA overrides: this request only
                stack.enter_context(client.snapshot(forced=forced))
            elif self.pin_snapshot:
                stack.enter_context(client.snapshot())
            await self.app(scope, receive, send)

    async def _qa(
        self, scope: Scope, permission: QaPermission, send: Send
    ) -> tuple[dict[str, str] | None, Send]:
        """The variants a tester forces, and ``send`` (wrapped to set the cookie when it changes)."""
        cookie = _cookie(scope, _qa.COOKIE)
        params = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"), keep_blank_values=True)
        param = params[_qa.PARAM][-1] if _qa.PARAM in params else None
        if cookie is None and param is None:
            return None, send
        try:
            result = permission(scope)
            if inspect.isawaitable(result):
                result = await result  # an async permission is awaited, never taken as truthy
        except Exception:
            logger.exception("flagkit: the ASGI qa_permission failed; QA overrides refused")
            return None, send
        if not _qa.granted(result):
            return None, send
        forced = _qa.parse(cookie)
        if param is None or scope["type"] != "http":
            return forced, send
        forced = _qa.merge(forced, param)
        value = _qa.encode(forced)
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        age = "; Max-Age=0" if not value else ""
        header = f"{_qa.COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax{age}{secure}".encode("latin-1")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", header)]}
            await send(message)

        return forced, send_with_cookie

    def _anonymous(self, scope: Scope, ctx: dict[str, Any], send: Send) -> Send:
        """Put the browser's id in ``ctx``; a new one is set as a cookie on the response."""
        value = _cookie(scope, self.anonymous_cookie)
        scope.setdefault("state", {})["flagkit_anonymous_id"] = value
        if value is not None and _anonymous.is_valid(value):
            _anonymous.apply(ctx, value)
            return send
        value = _anonymous.new_id()
        scope["state"]["flagkit_anonymous_id"] = value
        _anonymous.apply(ctx, value)
        if scope["type"] != "http":
            return send  # a websocket handshake response cannot set it here
        header = _anonymous.set_cookie_header(
            self.anonymous_cookie, value, self.anonymous_max_age, secure=scope.get("scheme") == "https"
        ).encode("latin-1")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", header)]}
            await send(message)

        return send_with_cookie

    async def _context(self, scope: Scope) -> dict[str, Any]:
        ctx: dict[str, Any] = {}
        if self.request_context:
            ctx["path"] = scope.get("path", "")
            if "method" in scope:
                ctx["method"] = scope["method"]
            client = scope.get("client")
            if client:
                ctx["ip"] = client[0]
        if self.context_getter is not None:
            try:
                extra = self.context_getter(scope)
                if inspect.isawaitable(extra):
                    extra = await extra
            except Exception:
                logger.exception("flagkit: the ASGI context_getter failed; using the default context")
                return ctx
            if isinstance(extra, Mapping):
                ctx.update({str(key): value for key, value in extra.items()})
        return ctx


def _cookie(scope: Scope, name: str) -> str | None:
    """The value of cookie ``name`` in the request's ``Cookie`` header(s), if any."""
    for key, raw in scope.get("headers", ()):
        if key.lower() != b"cookie":
            continue
        for part in bytes(raw).decode("latin-1").split(";"):
            cookie_name, sep, value = part.strip().partition("=")
            if sep and cookie_name == name:
                found: str = value.strip().strip('"')
                return found
    return None


class BootstrapEndpoint:
    """An ASGI app answering ``GET`` with the client-visible flags as JSON (``Flags.bootstrap``).

    Mount it behind :class:`FlagkitMiddleware` so the request's context applies::

        routes = [Route("/flags.json", BootstrapEndpoint())]          # Starlette
        app.add_route("/flags.json", BootstrapEndpoint())              # FastAPI

    The response is ``application/json`` with ``Cache-Control: no-store, private`` (values
    depend on the user). Other methods get 405.

    Args:
        flags: The client; default: the module-level default client, looked up per request.
        context_getter: Extra context from the scope (sync or async), merged over the
            ambient context the middleware set.
    """

    def __init__(self, *, flags: Flags | None = None, context_getter: ContextGetter | None = None) -> None:
        self.flags = flags
        self.context_getter = context_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("BootstrapEndpoint serves HTTP only")
        if scope.get("method") not in ("GET", "HEAD"):
            await _respond(send, 405, b'{"error":"method not allowed"}', [(b"allow", b"GET, HEAD")])
            return
        extra: Mapping[str, Any] | None = None
        if self.context_getter is not None:
            try:
                got = self.context_getter(scope)
                extra = await got if inspect.isawaitable(got) else got
            except Exception:
                logger.exception("flagkit: the bootstrap context_getter failed; using the ambient context")
        client = self.flags if self.flags is not None else flagkit.get_client()
        data = client.bootstrap(extra if isinstance(extra, Mapping) else None)
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        await _respond(send, 200, b"" if scope.get("method") == "HEAD" else body, [], len(body))


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]], length: int | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body) if length is None else length).encode()),
                (b"cache-control", b"no-store, private"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
