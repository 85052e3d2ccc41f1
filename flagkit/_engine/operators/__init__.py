"""Condition operators: each turns an operand into a predicate over one attribute value.

Everything here runs at load time except the returned closures, which are the hot path:
they take the attribute value (``None`` when the attribute is absent) and return a bool.
They never raise for any value a context can hold; the client still guards every call.

Type rules (documented in docs/format.md): no coercion between strings and numbers;
booleans are never numbers; an absent (or ``None``) attribute fails every operator except
``exists: false``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from ...document.regex_safety import UnsafePattern, check_regex_safety
from ...errors import did_you_mean
from . import matching
from .matching import to_epoch

__all__ = [
    "MAX_MATCH_LENGTH",
    "OperandError",
    "ValuePredicate",
    "check_regex_safety",
    "make_operator",
    "parse_semver",
    "to_epoch",
]

ValuePredicate = Callable[[Any], bool]

MAX_MATCH_LENGTH = 512
"""Strings longer than this never match a ``matches`` condition: with the patterns that
:mod:`flagkit.document.regex_safety` allows (quadratic at worst), one match costs at most ~1 ms."""

try:  # pragma: no cover - optional: linear-time regexes when google-re2 is installed
    import re2 as _re2
except ImportError:  # pragma: no cover
    _re2 = None


class OperandError(ValueError):
    """An operand is invalid for its operator (reported as a ConfigError with its path)."""


_COLLECTIONS = (list, tuple, set, frozenset)
"""A tuple, not ``list | tuple | ...``: a union in isinstance() is rebuilt on every call."""


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


# --- equality and membership ---------------------------------------------------------------


def _eq(operand: Any) -> ValuePredicate:
    if operand is None:
        raise OperandError("null is not a valid operand; use `exists: false` for absent attributes")
    if isinstance(operand, bool):
        return lambda v: v is operand
    if _is_number(operand):
        return lambda v: (type(v) is int or type(v) is float) and v == operand
    if isinstance(operand, str):
        return lambda v: v == operand
    return lambda v: type(v) is type(operand) and v == operand


def _ne(operand: Any) -> ValuePredicate:
    eq = _eq(operand)
    return lambda v: v is not None and not eq(v)


def _in(operand: Any) -> ValuePredicate:
    if not isinstance(operand, list) or not operand:
        raise OperandError("expected a non-empty list")
    for item in operand:
        if not isinstance(item, str | int | float):
            raise OperandError(f"list items must be strings, numbers or booleans, not {item!r}")
    bools = frozenset(x for x in operand if isinstance(x, bool))
    others = frozenset(x for x in operand if not isinstance(x, bool))

    def pred(v: Any) -> bool:
        if type(v) is bool:
            return v in bools
        try:
            return v in others
        except TypeError:  # unhashable context value
            return False

    return pred


def _not_in(operand: Any) -> ValuePredicate:
    inside = _in(operand)
    return lambda v: v is not None and not inside(v)


# --- strings ------------------------------------------------------------------------------


def _str_operands(operand: Any) -> tuple[str, ...]:
    items = operand if isinstance(operand, list) else [operand]
    if not items or not all(isinstance(x, str) for x in items):
        raise OperandError("expected a string or a list of strings")
    return tuple(items)


def _contains(operand: Any) -> ValuePredicate:
    if isinstance(operand, str):

        def pred(v: Any) -> bool:
            if type(v) is str:
                return operand in v
            if isinstance(v, _COLLECTIONS):
                return operand in v
            return False

        return pred
    if isinstance(operand, bool) or _is_number(operand):
        return lambda v: (
            isinstance(v, _COLLECTIONS) and any(type(x) is type(operand) and x == operand for x in v)
        )
    raise OperandError("expected a string, number or boolean")


def _starts_with(operand: Any) -> ValuePredicate:
    prefixes = _str_operands(operand)
    return lambda v: type(v) is str and v.startswith(prefixes)


def _ends_with(operand: Any) -> ValuePredicate:
    suffixes = _str_operands(operand)
    return lambda v: type(v) is str and v.endswith(suffixes)


def _matches(operand: Any) -> ValuePredicate:
    if not isinstance(operand, str):
        raise OperandError("expected a regular expression string")
    if _re2 is not None:  # pragma: no cover - depends on the optional google-re2
        try:
            search = _re2.compile(operand).search
        except Exception as exc:
            raise OperandError(f"invalid regular expression: {exc}") from None
    else:
        try:
            check_regex_safety(operand)
        except UnsafePattern as exc:
            raise OperandError(str(exc)) from None
        search = re.compile(operand).search
    limit = MAX_MATCH_LENGTH
    return lambda v: type(v) is str and len(v) <= limit and search(v) is not None


# --- numbers ------------------------------------------------------------------------------


def _numeric(compare: Callable[[Any, Any], bool]) -> Callable[[Any], ValuePredicate]:
    def build(operand: Any) -> ValuePredicate:
        if not _is_number(operand):
            raise OperandError("expected a number")
        return lambda v: (type(v) is int or type(v) is float) and compare(v, operand)

    return build


# --- semantic versions --------------------------------------------------------------------

_SEMVER_RE = re.compile(
    r"[vV]?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?\Z"
)

SemverKey = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]


@functools.lru_cache(maxsize=4096)
def parse_semver(text: str) -> SemverKey | None:
    """A sortable key for ``MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD]`` (a ``v`` or ``V``
    prefix is allowed, as flagd's ``sem_ver`` strips either).

    Missing minor/patch count as 0. A release sorts after its pre-releases; pre-release
    identifiers compare numerically when numeric, else lexically (semver 2.0.0 §11).
    Returns ``None`` for text that is not a version.
    """
    if len(text) > 256:
        return None
    m = _SEMVER_RE.match(text.strip())
    if m is None:
        return None
    major, minor, patch, pre = m.group(1), m.group(2), m.group(3), m.group(4)
    pre_key: tuple[tuple[int, int | str], ...] = ()
    if pre:
        pre_key = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return (int(major), int(minor or 0), int(patch or 0), 0 if pre else 1, pre_key)


def _semver(compare: Callable[[Any, Any], bool]) -> Callable[[Any], ValuePredicate]:
    def build(operand: Any) -> ValuePredicate:
        if isinstance(operand, float):
            raise OperandError(f"write the version as a quoted string (YAML read {operand!r} as a number)")
        if isinstance(operand, int) and not isinstance(operand, bool):
            operand = str(operand)
        if not isinstance(operand, str) or (target := parse_semver(operand)) is None:
            raise OperandError(f"{operand!r} is not a semantic version")

        def pred(v: Any) -> bool:
            if type(v) is not str or len(v) > 256:  # before the cache: never keep huge user strings
                return False
            key = parse_semver(v)
            return key is not None and compare(key, target)

        return pred

    return build


# --- dates --------------------------------------------------------------------------------


def _exists(operand: Any) -> ValuePredicate:
    if not isinstance(operand, bool):
        raise OperandError("expected true or false")
    if operand:
        return lambda v: v is not None
    return lambda v: v is None


_BUILDERS: dict[str, Callable[[Any], ValuePredicate]] = {
    "eq": _eq,
    "ne": _ne,
    "in": _in,
    "not_in": _not_in,
    "contains": _contains,
    "starts_with": _starts_with,
    "ends_with": _ends_with,
    "matches": _matches,
    "gt": _numeric(lambda a, b: a > b),
    "gte": _numeric(lambda a, b: a >= b),
    "lt": _numeric(lambda a, b: a < b),
    "lte": _numeric(lambda a, b: a <= b),
    "semver_eq": _semver(lambda a, b: a == b),
    "semver_gt": _semver(lambda a, b: a > b),
    "semver_gte": _semver(lambda a, b: a >= b),
    "semver_lt": _semver(lambda a, b: a < b),
    "semver_lte": _semver(lambda a, b: a <= b),
    "exists": _exists,
    "in_cidr": matching.in_cidr,
}


_TEMPORAL = frozenset({"before", "at_or_before", "after", "at_or_after"})
_KNOWN = ", ".join(sorted({*_BUILDERS, *_TEMPORAL, "any_element"}))


def make_operator(
    name: str, operand: Any, *, numeric_strings: bool = False, clock: Callable[[], float] | None = None
) -> ValuePredicate:
    """Build the predicate for ``{name: operand}``.

    Args:
        name: The operator.
        operand: Its operand as written.
        numeric_strings: Compare strings that are numbers (``"42"``) as numbers in the numeric
            operators (a document's ``options.numeric_strings``).
        clock: Seconds since the epoch, read at evaluation by a time operator whose operand is
            ``now`` (required for those: the engine reads no clock it is not given).

    Raises:
        OperandError: Unknown operator or invalid operand.
    """
    try:
        if name in _TEMPORAL:
            return matching.temporal(name, clock)(operand)
        if name == "any_element":
            return matching.any_element(
                operand, lambda op, arg: make_operator(op, arg, numeric_strings=numeric_strings, clock=clock)
            )
        builder = _BUILDERS.get(name)
        if builder is None:
            hint = did_you_mean(name, [*_BUILDERS, *_TEMPORAL, "any_element"])
            raise OperandError(f"unknown operator {name!r}{hint} (known: {_KNOWN})")
        check = builder(operand)
    except matching.OperandProblem as exc:
        raise OperandError(str(exc)) from None
    if numeric_strings:
        return matching.numeric_strings(name, operand, check)
    return check
