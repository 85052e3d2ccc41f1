"""The opt-in anonymous id shared by the Django, Flask and ASGI integrations.

A logged-out visitor has no ``user_id``, so a percentage split has nothing to hash and serves
its default: a "10 % rollout" reaches no anonymous visitor. With the anonymous id on, the
middleware gives each browser a random id in a cookie and puts it in the context:

* ``anonymous_id``: the cookie's value, on every request (logged in or not);
* ``targeting_key``: the same value, only when the context has neither ``user_id`` nor
  ``targeting_key`` (a logged-in user is still bucketed by ``user_id``).

The cookie is ``HttpOnly``, ``SameSite=Lax``, ``Secure`` on HTTPS requests, and lives
:data:`MAX_AGE` seconds (one year) from the first visit; it is set once, on the response to
the request that created it. Nothing in it identifies the person.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import MutableMapping
from typing import Any

__all__ = ["COOKIE", "MAX_AGE", "apply", "is_valid", "new_id", "set_cookie_header"]

COOKIE = "flagkit_anon"
"""Default cookie name."""

MAX_AGE = 365 * 24 * 3600
"""Default lifetime of the cookie, in seconds (one year from the first visit)."""

_VALID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_id() -> str:
    """A fresh random id (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def is_valid(value: str | None) -> bool:
    """True for an id this module could have made (anything else is replaced)."""
    return value is not None and _VALID.fullmatch(value) is not None


def apply(ctx: MutableMapping[str, Any], anonymous_id: str) -> None:
    """Add the id to ``ctx``: always as ``anonymous_id``, as ``targeting_key`` without a user."""
    ctx["anonymous_id"] = anonymous_id
    if ctx.get("user_id") is None and ctx.get("targeting_key") is None:
        ctx["targeting_key"] = anonymous_id


def set_cookie_header(name: str, value: str, max_age: int, secure: bool) -> str:
    """The ``Set-Cookie`` header value (for the ASGI middleware, which has no response object)."""
    parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
