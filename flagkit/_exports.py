"""Naming the public module of an export (private; used by the package facades)."""

from __future__ import annotations

import types
import typing
from typing import Any

__all__ = ["publish"]


def publish(value: Any, module: str) -> Any:
    """Set ``__module__`` of an exported class or function to the public ``module`` (httpx's
    idiom), so that reprs, pickles and documentation name the path users import from.

    ``typing.get_type_hints(cls)`` resolves a class's string annotations in the namespace of
    ``cls.__module__``: they are resolved first, in the module that defines them, so that
    dataclass fields keep resolving (pydantic and cattrs rely on it). Anything else (a constant,
    a type alias) is left alone. Returns ``value``.
    """
    if isinstance(value, type):
        if value.__module__ != module:
            own = vars(value).get("__annotations__")
            if own:
                hints = typing.get_type_hints(value, include_extras=True)
                value.__annotations__ = {name: hints[name] for name in own}
            value.__module__ = module
    elif isinstance(value, types.FunctionType):
        value.__module__ = module
    return value
