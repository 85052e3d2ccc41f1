"""What can go wrong between a served value and the caller: type checks, coercion, the
details of an error, and the once-per-key warnings (a typo'd key, a wrong default).

Nothing here is on the hot path's success branch: the evaluation core reaches it only for a
value whose exact type differs from the caller's default, for an unknown key or for an error.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, TypeVar

from .._engine.compiler import CompiledFlag
from ..errors import did_you_mean
from ..evaluation import CODE_DEFAULT, ErrorCode, Evaluation, Reason

__all__ = [
    "MAX_WARNED",
    "Warnings",
    "coerce",
    "failed",
    "kind",
    "kind_words",
    "not_found",
    "override_problem",
    "typed",
]

logger = logging.getLogger("flagkit")
T = TypeVar("T")

MAX_WARNED = 1000
"""At most this many (problem, key) warnings per client, so dynamic keys cannot grow the set."""
_KIND_WORDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", dict: "a mapping"}
_NOT_CALLERS = frozenset({"flagkit", "openfeature"})


class Warnings:
    """Log each problem once per key (with the key and the calling module; never context
    values), for at most :data:`MAX_WARNED` keys per client."""

    __slots__ = ("said",)

    def __init__(self) -> None:
        self.said: set[tuple[str, str]] = set()

    def once(self, problem: str, key: str, message: str) -> None:
        """Log ``message`` (``%r`` the key, ``%s`` the caller) unless said already."""
        if (problem, key) in self.said or len(self.said) >= MAX_WARNED:
            return
        self.said.add((problem, key))
        logger.warning(message, key[:200] if isinstance(key, str) else key, call_site())

    def missing(self, key: str, table: Mapping[str, Any]) -> None:
        """``key`` is not defined in ``table`` (nothing is said while nothing is loaded)."""
        if not table or ("missing", key) in self.said:
            return  # nothing loaded yet (every key misses), or said already
        hint = did_you_mean(key, table).replace("%", "%%")  # off the hot path: once per key
        self.once(
            "missing", key, f"flagkit: flag %r is not defined{hint} (evaluated in %s): the default is served"
        )

    def mismatch(self, key: str, value: Any, default: Any) -> None:
        """``key`` serves ``value``, of another kind than the caller's ``default``."""
        if ("type", key) in self.said:
            return
        self.once(
            "type",
            key,
            f"flagkit: flag %r serves {kind_words(value)} but the code's default is {kind_words(default)}"
            " (evaluated in %s): the default is served",
        )  # fmt: skip

    def not_json(self, key: str) -> None:
        """``key`` was left out of a bootstrap: its value is not plain JSON."""
        self.once(
            "json", key, "flagkit: flag %r left out of the bootstrap (in %s): its value is not plain JSON"
        )


def call_site() -> str:
    """The module of the nearest caller outside flagkit and the OpenFeature SDK, which calls in
    through the provider (cheap enough for a once-per-key log)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "?")
        if name.partition(".")[0] not in _NOT_CALLERS:
            return f"{name}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]  # None ends the loop
    return "?"


def kind(value: Any) -> type:
    """The JSON kind of a value: subclasses (e.g. Django's SafeString) count as their base."""
    for candidate in (bool, int, float, str):
        if isinstance(value, candidate):
            return candidate
    if isinstance(value, Mapping):
        return dict
    if isinstance(value, list | tuple):
        return list
    return type(value)


def kind_words(value: Any) -> str:
    """``a boolean``, ``an integer``...: the kind of ``value`` for a message."""
    found = kind(value)
    return _KIND_WORDS.get(found, "a list" if found is list else f"a {found.__name__}")


def coerce(value: Any, default: Any) -> Any:
    """The value when its JSON kind matches the default's (an int for a float default is
    converted); otherwise ``default``. Only reached when the exact types differ."""
    wanted = kind(default)
    if wanted is float and type(value) is int:
        return float(value)
    if kind(value) is wanted:
        return value
    return default


def override_problem(key: str, value: Any, flag: CompiledFlag | None) -> str | None:
    """Why ``value`` cannot override ``flag`` (its callers could not receive it), or None."""
    if flag is None or value is CODE_DEFAULT:
        return None
    served = {kind(v): kind_words(v) for v in flag.variants.values() if v is not CODE_DEFAULT}
    given = kind(value)
    if not served or given in served or (given is int and float in served):
        return None
    caller = "is_enabled() would be False" if set(served) == {bool} else "get_value() returns its default"
    return (
        f"override_flags: flag {key!r} serves {' or '.join(sorted(served.values()))}, not "
        f"{kind_words(value)} ({value!r}): {caller} and the test would run the default path"
    )


def not_found(key: str, default: T) -> Evaluation[T]:
    """The details of an evaluation of an unknown key."""
    return Evaluation(
        key, default, None, Reason.ERROR, None, ErrorCode.FLAG_NOT_FOUND, f"flag {key!r} is not defined"
    )


def failed(key: str, default: T, exc: Exception) -> Evaluation[T]:
    """The details of an evaluation that raised (a context that is not a mapping, mostly)."""
    code = ErrorCode.PARSE_ERROR if isinstance(exc, AttributeError | TypeError) else ErrorCode.GENERAL
    return Evaluation(
        key, default, None, Reason.ERROR, None, code,
        f"evaluation failed: {type(exc).__name__} (is the context a mapping?)",
    )  # fmt: skip


def typed(
    key: str, default: T, value: Any, variant: str | None, reason: Reason, rule: str | None
) -> Evaluation[T]:
    """Details for a value whose exact type differs from the default's: the caller's default when
    the flag serves ``code_default``, the value coerced, or TYPE_MISMATCH."""
    if value is CODE_DEFAULT:  # the file says: serve what the code passed
        return Evaluation(key, default, None, reason, rule)
    coerced = coerce(value, default)
    if coerced is not default or kind(value) is kind(default):
        return Evaluation(key, coerced, variant, reason, rule)
    return Evaluation(
        key, default, None, Reason.ERROR, rule, ErrorCode.TYPE_MISMATCH,
        f"flag {key!r} serves {kind_words(value)}, but the default is {kind_words(default)}",
    )  # fmt: skip
