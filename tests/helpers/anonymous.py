"""Checks of the anonymous-id cookie shared by the framework tests (Django, Flask, ASGI)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

COOKIE = "flagkit_anon"


def check_sticky_anonymous_rollout(
    new_client: Callable[[], httpx.Client],
    flag_path: str,
    context_path: str | None = None,
    key: str = "anon_rollout",
) -> None:
    """Each of 20 cookie-keeping visitors gets one id (set once, HttpOnly, SameSite=Lax, a
    year), the same answer of a 50 % split on every request, and the visitors split both ways.

    ``flag_path`` answers ``{key: bool, ...}`` for the 50 % flag ``key``; ``context_path`` (optional) answers
    ``{"context": {...}}`` with the request's context.
    """
    answers: set[bool] = set()
    for _visitor in range(20):
        with new_client() as client:
            first = client.get(flag_path)
            assert first.status_code == 200, first.text
            header = first.headers.get("set-cookie", "")
            assert header.startswith(f"{COOKIE}="), header
            lowered = header.lower()
            assert "httponly" in lowered
            assert "samesite=lax" in lowered
            assert "max-age=31536000" in lowered
            assert "secure" not in lowered.replace("samesite", "")  # plain HTTP here
            anonymous_id = client.cookies[COOKIE]
            served = first.json()[key]
            for _request in range(4):
                again = client.get(flag_path)
                assert "set-cookie" not in again.headers  # set once, then only read
                assert again.json()[key] == served
            assert client.cookies[COOKIE] == anonymous_id
            if context_path is not None:
                ctx = client.get(context_path).json()["context"]
                assert ctx["anonymous_id"] == anonymous_id
                assert ctx["targeting_key"] == anonymous_id
            answers.add(served)
    assert answers == {True, False}  # 20 random ids all on one side: p = 2**-19
