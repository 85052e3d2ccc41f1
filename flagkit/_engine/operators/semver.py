"""Semantic versions: ``semver_eq``, ``semver_gt``, ``semver_gte``, ``semver_lt``, ``semver_lte``
(semver 2.0.0 precedence; a ``v`` prefix and missing minor/patch are accepted)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from ._base import OperandError, ValuePredicate

__all__ = ["BUILDERS", "parse_semver"]

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


BUILDERS: dict[str, Callable[[Any], ValuePredicate]] = {
    "semver_eq": _semver(lambda a, b: a == b),
    "semver_gt": _semver(lambda a, b: a > b),
    "semver_gte": _semver(lambda a, b: a >= b),
    "semver_lt": _semver(lambda a, b: a < b),
    "semver_lte": _semver(lambda a, b: a <= b),
}
