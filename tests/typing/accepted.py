"""A typed user program that ``mypy --strict`` must accept (checked by tests/test_typing.py).

Each ``assert_type`` states what the public API promises; the file is also run, so every
claim holds at run time too.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, assert_type

from django.http import HttpRequest

import flagkit
from flagkit import Evaluation, Flags, Guard, GuardedBlock
from flagkit.integrations.django import FlagsRequest, flags_of

flags = Flags.from_dict(
    {
        "features": {
            "new_checkout": True,
            "limit": 10,
            "engine": {"variants": {"classic": "c", "ai": "a"}, "default": "ai"},
        }
    }
)
flagkit.configure(flags=flags)

# get_value: the default's type is the result's type; None as default means "any value".
assert_type(flags.get_value("limit", 0), int)
assert_type(flags.get_value("limit", 0.5), float)
assert_type(flags.get_value("missing", "text"), str)
assert_type(flags.get_value("limit", None), Any)
assert_type(flagkit.get_value("limit", None), Any)
assert_type(flags.evaluate("limit", 0), Evaluation[int])
assert_type(flags.evaluate("limit", None), Evaluation[Any])
assert_type(flags.is_enabled("new_checkout"), bool)
assert_type(flags.variant("engine"), str | None)


def old_checkout(cart: list[int]) -> str:
    return f"old:{len(cart)}"


# when with otherwise: the function keeps its type.
@flags.when("new_checkout", otherwise=old_checkout)
def new_checkout(cart: list[int]) -> str:
    return f"new:{len(cart)}"


assert_type(new_checkout([1, 2]), str)


# when without otherwise: off means None, and the type says so.
@flags.when("new_checkout")
def banner(name: str) -> str:
    return f"hello {name}"


assert_type(banner("ana"), str | None)


# guarded: the block is the public GuardedBlock (a user's helper may take one).
def fallback_needed(block: GuardedBlock) -> bool:
    return block.use_fallback


with flags.guarded("new_checkout", guard=Guard()) as block:
    assert_type(block, GuardedBlock)
assert not fallback_needed(block)


@flags.when("new_checkout")
async def fetch(n: int) -> int:
    return n


def sync_doubled(n: int) -> int:
    return n * 2


# an async function with a sync otherwise returning what the coroutine returns
@flags.when("new_checkout", otherwise=sync_doubled)
async def doubled(n: int) -> int:
    return n


async def awaiting() -> None:
    assert_type(await fetch(1), int | None)
    assert_type(await doubled(1), int)
    assert await assert_type(doubled(2), Coroutine[Any, Any, int]) == 2


# variants: calls are checked against the default's signature and give its result.
@flags.variants("engine")
def recommend(user_id: str, limit: int = 3) -> list[str]:
    return ["default"] * limit


@recommend.variant("ai")
def _ai(user_id: str, limit: int = 3) -> list[str]:
    return ["ai"] * limit


assert_type(recommend("u-1"), list[str])
assert_type(recommend("u-1", limit=2), list[str])
assert_type(recommend.resolve("u-1")("u-1"), list[str])
assert_type(recommend.key, str)


@flagkit.variants("engine")
def module_level(user_id: str) -> int:
    return 0


assert_type(module_level("u"), int)


# Django: the request's client, typed.
def view(request: HttpRequest) -> bool:
    return flags_of(request).is_enabled("new_checkout")


def annotated_view(request: FlagsRequest) -> int:
    return request.flags.get_value("limit", 0)


if __name__ == "__main__":
    import asyncio

    assert new_checkout([1, 2]) == "new:2"
    assert banner("ana") == "hello ana"
    assert asyncio.run(fetch(3)) == 3
    asyncio.run(awaiting())
    assert recommend("u-1", limit=2) == ["ai", "ai"]
    print("ok")
