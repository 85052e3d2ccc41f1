"""A user program that ``mypy --strict`` must reject, line by line (tests/test_typing.py).

Each line marked ``# error: CODE`` must give exactly that mypy error code there, and no other
line may give an error: the public types catch these mistakes before they ship.
"""

from __future__ import annotations

from django.http import HttpRequest

from flagkit import Flags

flags = Flags.from_dict({"features": {"new_checkout": True, "limit": 10}})


@flags.when("new_checkout")
def banner(name: str) -> str:
    return f"hello {name}"


shout = banner("ana").upper()  # error: union-attr


def old_checkout(cart: list[int]) -> str:
    return "old"


@flags.when("new_checkout", otherwise=old_checkout)
def new_checkout(cart: list[int]) -> str:
    return "new"


new_checkout("not a list")  # error: arg-type


@flags.when("new_checkout", otherwise=old_checkout)  # error: arg-type
def other_shape(cart: list[int], coupon: str) -> str:
    return "new"


@flags.variants("engine")
def recommend(user_id: str, limit: int = 3) -> list[str]:
    return []


recommend(42)  # error: arg-type
recommend("u-1", limit="3")  # error: arg-type
recommend("u-1", 3, "extra")  # error: call-arg


@recommend.variant("ai")  # error: arg-type
def _ai(user_id: int) -> list[str]:
    return []


count: int = recommend("u-1")  # error: assignment
limit: int = flags.get_value("limit", "10")  # error: assignment


def view(request: HttpRequest) -> None:
    request.flags.is_enabled("new_checkout")  # error: attr-defined  (use flags_of(request))
