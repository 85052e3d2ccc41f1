"""QA overrides in the browser (django-waffle's testing mode), shared by the integrations.

Off unless the app gives a permission callable. A tester it grants opens any page with
``?flagkit_qa=new_checkout:on`` (several: ``a:on,b:green``; ``a:`` forgets ``a``; an empty
value forgets all): the middleware stores the choice in the ``flagkit_qa`` cookie (HttpOnly,
SameSite=Lax, Secure on HTTPS, for the browser session) and, on each of that tester's
requests, pins a snapshot in which those flags serve the chosen variants with reason
``QA_OVERRIDE``. Nobody else is affected: the permission is checked on every request that
carries the cookie or the parameter, so a copied cookie does nothing for a user it does not
grant.

The permission callable must return ``True`` to grant: any other value refuses, and so does
an ``async def`` callable where it cannot be awaited (a coroutine is truthy; it is never
taken for a yes).
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["COOKIE", "PARAM", "encode", "granted", "merge", "parse"]

logger = logging.getLogger("flagkit")

PARAM = "flagkit_qa"
"""The query parameter that sets the overrides."""

COOKIE = "flagkit_qa"
"""The cookie that keeps them."""

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
MAX_FLAGS = 50


def parse(text: str | None) -> dict[str, str]:
    """``"a:on,b:green"`` → ``{"a": "on", "b": "green"}``; malformed pairs are dropped."""
    out: dict[str, str] = {}
    for pair in (text or "").split(","):
        key, sep, variant = pair.strip().partition(":")
        if sep and _NAME.fullmatch(key) and _NAME.fullmatch(variant) and len(out) < MAX_FLAGS:
            out[key] = variant
    return out


def merge(current: Mapping[str, str], param: str) -> dict[str, str]:
    """The overrides after ``?flagkit_qa=param``: ``k:v`` sets, ``k:`` forgets ``k``, empty forgets all."""
    if not param.strip():
        return {}
    out = dict(current)
    for pair in param.split(","):
        key, sep, variant = pair.strip().partition(":")
        if sep and not variant.strip() and key in out:
            del out[key]
    out.update(parse(param))
    return dict(list(out.items())[:MAX_FLAGS])


def encode(forced: Mapping[str, str]) -> str:
    """The cookie value (the names are cookie-safe by :func:`parse`)."""
    return ",".join(f"{key}:{variant}" for key, variant in forced.items())


def granted(result: Any) -> bool:
    """True only for ``True``; an un-awaited coroutine is closed and refused (logged once per call)."""
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()
        logger.error("flagkit: the QA permission callable returned an awaitable here; refused")
        return False
    return result is True
