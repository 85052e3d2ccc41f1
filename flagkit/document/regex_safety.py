"""Load-time check that a ``matches`` pattern cannot backtrack catastrophically in ``re``.

Context values come from end users, so a pattern must not let one value cost seconds. With
values capped at :data:`flagkit._engine.operators.MAX_MATCH_LENGTH` characters, the check allows
patterns whose worst case is quadratic (about 1 ms at 512 characters) and refuses:

- backreferences;
- a repeat (``*``, ``+``, ``{m,n}`` with ``n > 1``, bounded or not) of a body that can match
  one stretch of text in several ways: ``(a+)+``, ``(a+){1,32}``, ``(a|ab)*`` (exponential);
  a bounded repeat only while ``ways ** n <= MAX_SPLITS`` (``(\\d{1,3}\\.){3}`` loads);
- polynomial patterns: more than two *wide* repeats (``*``, ``+``, ``{n,}``, ``{m,n}`` with
  ``n - m > NARROW``; narrow ones multiply, see :data:`MAX_SPREAD`) that can match the same
  stretch of text, counting the implicit leading ``.*?`` of an unanchored search as one, and
  looking into optional groups and lookarounds. ``^.*a.*a.*b$`` and ``\\d*\\d*\\d*x`` are
  refused; ``^[^@]+@[^@]+\\.[a-z]+$`` is allowed, because ``@`` cannot be matched by
  ``[^@]+`` and so separates the repeats.

The guard is proven by ``tests/document/test_regex_safety.py``: every pattern it accepts from a
generated corpus is timed against adversarial inputs.

The analysis uses ``re``'s own parser (``re._parser``, private but stable since 3.11) and is
deliberately conservative: when unsure whether a literal separates two repeats, it assumes
it does not.
"""

from __future__ import annotations

import re

# re's private parser and constants; typeshed has no stub for them.
import re._constants as _c  # type: ignore[import-not-found]
import re._parser as _p  # type: ignore[import-not-found]
from collections.abc import Callable
from typing import Any

__all__ = ["UnsafePattern", "check_regex_safety"]

WIDE = 32
"""A bounded repeat allowing more than this many matches counts as unbounded."""
NARROW = 2
"""A bounded repeat whose range (``high - low``) is at most this is *narrow* (see _widest_run)."""
MAX_SPLITS = 100
"""Most ways a repeated group may split one stretch of text: ``(\\d{1,3}\\.){3}`` has 3**3."""
MAX_SPREAD = 4
"""Narrow repeats in one stretch multiply their ranges; each time the product passes this,
they count as one more wide repeat."""
_MANY = 10**9
MAX_DEGREE = 2
"""Largest allowed polynomial degree of backtracking (2 = quadratic)."""

_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT))
_CATEGORIES: dict[Any, str] = {
    _c.CATEGORY_DIGIT: r"\d",
    _c.CATEGORY_NOT_DIGIT: r"\D",
    _c.CATEGORY_SPACE: r"\s",
    _c.CATEGORY_NOT_SPACE: r"\S",
    _c.CATEGORY_WORD: r"\w",
    _c.CATEGORY_NOT_WORD: r"\W",
}
CharTest = Callable[[str], bool]


class UnsafePattern(ValueError):
    """The pattern is invalid or can backtrack catastrophically."""


def check_regex_safety(pattern: str) -> None:
    """Raise :class:`UnsafePattern` unless ``pattern`` is safe for user-supplied values."""
    try:
        parsed = _p.parse(pattern)
    except re.error as exc:
        raise UnsafePattern(f"invalid regular expression: {exc}") from None
    _check_nesting(parsed)
    ignorecase = bool(parsed.state.flags & re.IGNORECASE)
    items = list(parsed)
    anchored = (
        bool(items) and items[0][0] is _c.AT and items[0][1] in (_c.AT_BEGINNING, _c.AT_BEGINNING_STRING)
    )
    degree = _widest_run(items, ignorecase) + (0 if anchored else 1)
    if degree > MAX_DEGREE:
        hint = "" if anchored else "; anchoring it with ^ may help"
        raise UnsafePattern(
            "too many unbounded repetitions (*, +, {n,}) that can match the same text: "
            f"matching could take polynomial time{hint} (pip install 'pyflagkit[re2]' for linear-time "
            "matching, or use starts_with / ends_with / contains)"
        )


def _check_nesting(items: Any) -> None:
    """Refuse backreferences, and repeats whose body can split one stretch of text in too
    many ways: ``(a+)+``, ``(a+){1,32}``, ``(a|ab)*``, ``(a{3,6}a{3,6}){3}``."""
    for op, av in items:
        if op in (_c.GROUPREF, _c.GROUPREF_EXISTS):
            raise UnsafePattern("backreferences are not allowed in `matches` patterns")
        if op in _REPEATS:
            _low, high, sub = av
            splits = _splits(sub)
            if high > 1 and splits > 1 and (_is_wide(high) or splits ** min(high, 64) > MAX_SPLITS):
                kind = (
                    "alternation"
                    if _has(sub, _c.BRANCH) and not _has(sub, *_REPEATS)
                    else "nested repetition"
                )
                raise UnsafePattern(
                    f"{kind} inside repetition (like `(a+)+`, `(a+){{1,32}}` or `(a|ab)*`) can take "
                    "exponential time; rewrite it"
                )
            _check_nesting(sub)
        elif op is _c.SUBPATTERN:
            _check_nesting(av[-1])
        elif op is _c.BRANCH:
            for branch in av[1]:
                _check_nesting(branch)
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            _check_nesting(av[1])


def _splits(items: Any) -> int:
    """In how many ways ``items`` can match one stretch of text, at most (capped); 1 for a
    body of fixed shape. Unbounded repeats count as :data:`_MANY`."""
    total = 1
    for op, av in items:
        if op in _REPEATS:
            low, high, sub = av
            if _is_wide(high):
                return _MANY
            inner = _splits(sub)
            total *= (high - low + 1) * (inner ** min(high, 64) if inner > 1 else 1)
        elif op is _c.SUBPATTERN:
            total *= _splits(av[-1])
        elif op is _c.BRANCH:
            total *= sum(_splits(branch) for branch in av[1])
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            total *= _splits(av[1])
        if total >= _MANY:
            return _MANY
    return total


def _has(items: Any, *ops: Any) -> bool:
    for op, av in items:
        if op in ops:
            return True
        if op is _c.SUBPATTERN and _has(av[-1], *ops):
            return True
        if op in _REPEATS and _has(av[2], *ops):
            return True
        if op is _c.BRANCH and any(_has(branch, *ops) for branch in av[1]):
            return True
    return False


def _is_wide(high: int) -> bool:
    return bool(high == _c.MAXREPEAT or high > WIDE)


def _widest_run(items: list[Any], ignorecase: bool) -> int:
    """Most wide repeats in a stretch not split by a literal the previous repeat cannot match.

    A bounded repeat whose range (``high - low``) exceeds :data:`NARROW` counts as wide; narrow
    variable repeats multiply their ranges, and each :data:`MAX_SPREAD` of product counts as one
    more wide repeat (``a{0,2}a{0,2}a{0,2}`` backtracks like ``a*a*``)."""
    widest = count = 0
    spread = 1  # product of the ranges of the narrow variable repeats in this stretch
    last: CharTest | None = None  # what the last repeat's body matches (None: anything)
    for op, av in _flatten(items):
        if op in _REPEATS and av[1] != av[0]:
            low, high = av[0], av[1]
            if _is_wide(high) or high - low > NARROW:
                count += 1
            else:
                spread *= high - low + 1
                if spread > MAX_SPREAD:
                    count, spread = count + 1, high - low + 1
            widest = max(widest, count)
            last = _char_test(av[2], ignorecase)
        elif op is _c.LITERAL and (count or spread > 1):
            char = chr(av)
            if last is not None and not (
                last(char) or (ignorecase and (last(char.lower()) or last(char.upper())))
            ):
                count, spread = 0, 1  # the repeat cannot run past this literal: it separates stretches
        elif op is _c.BRANCH:
            widest = max(widest, count + max(_widest_run(list(b), ignorecase) for b in av[1]))
            count, last = widest, None
    return widest


def _flatten(items: list[Any]) -> list[Any]:
    """Top-level items with groups opened up: a group, an optional group (``(...)?``, matched
    at most once) and a lookaround are matched in sequence like their items, as far as
    backtracking goes (counting an optional or lookahead part as present is conservative)."""
    out: list[Any] = []
    for op, av in items:
        if op is _c.SUBPATTERN:
            out.extend(_flatten(list(av[-1])))
        elif op in _REPEATS and av[1] <= 1:
            out.extend(_flatten(list(av[2])))
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            out.extend(_flatten(list(av[1])))
        else:
            out.append((op, av))
    return out


def _char_test(body: Any, ignorecase: bool) -> CharTest | None:
    """A test for the single character a repeat's body matches, or None if not a single char."""
    body = list(body)
    if len(body) != 1:
        return None
    op, av = body[0]
    if op is _c.LITERAL:
        return lambda ch: ch == chr(av)
    if op is _c.NOT_LITERAL:
        return lambda ch: ch != chr(av)
    if op is _c.IN:
        return _set_test(list(av))
    return None  # ANY and anything else: assume it matches every character


def _set_test(items: list[Any]) -> CharTest | None:
    negate = bool(items) and items[0][0] is _c.NEGATE
    chars: set[str] = set()
    ranges: list[tuple[int, int]] = []
    categories: list[re.Pattern[str]] = []
    for op, av in items[1:] if negate else items:
        if op is _c.LITERAL:
            chars.add(chr(av))
        elif op is _c.RANGE:
            ranges.append((av[0], av[1]))
        elif op is _c.CATEGORY and av in _CATEGORIES:
            categories.append(re.compile(_CATEGORIES[av]))
        else:
            return None  # unknown member: assume it matches everything

    def member(ch: str) -> bool:
        return (
            ch in chars
            or any(lo <= ord(ch) <= hi for lo, hi in ranges)
            or any(rx.fullmatch(ch) is not None for rx in categories)
        )

    if negate:
        return lambda ch: not member(ch)
    return member
