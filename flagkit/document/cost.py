"""The evaluation cost a flag document can create, bounded at load.

A small document can describe a lot of work: YAML aliases repeat a condition without
repeating its text (``any: [*c, *c, *c, ...]``, each ``*c`` itself an ``any`` of aliases), a
segment can use another segment several times, and a flag's prerequisites can share
prerequisites. Evaluation walks that structure as written, so 320 bytes of nested aliases made
one evaluation take 12 ms. Before validating a document, :func:`cost_issues` counts, per flag,
the condition checks one evaluation can make in the worst case and refuses a flag (naming it)
over :data:`MAX_FLAG_COST` or a document over :data:`MAX_DOCUMENT_COST`.

The count, on the parsed document (before pydantic, which would copy every alias):

* a flag: 1, plus each rule (1 + its ``when``), plus each prerequisite flag's count;
* a condition: each entry 1, plus for ``all``/``any`` its conditions, for ``not`` its
  condition, for ``segment`` the segment's condition, and for an operator whose list operand
  is scanned per evaluation (``starts_with``, ``ends_with``, ``in_cidr``, ...) the list's length.
  ``in``/``not_in`` (and a plain list, which means ``in``) compile to a set: 1 whatever its
  length.

Shared objects (what an alias refers to) are counted once and their count reused, so the
count itself takes time linear in the document as written, not as expanded. Malformed parts
count 1 here: the schema and the compiler report them.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigIssue

__all__ = ["MAX_DOCUMENT_COST", "MAX_FLAG_COST", "cost_issues"]

MAX_FLAG_COST = 10_000
"""Most condition checks one evaluation of a flag may make (its prerequisites included)."""

MAX_PREREQUISITE_EVALUATIONS = 1_000
"""``flagkit._engine.compiler.MAX_PREREQUISITE_EVALUATIONS`` (a test keeps them equal): a flag whose
prerequisites are evaluated more often is the compiler's to refuse, so it is not counted here."""

MAX_DOCUMENT_COST = 1_000_000
"""Most condition checks over every flag of a document (what ``all_values()`` may make)."""

_SET_OPERATORS = frozenset({"in", "not_in"})
_COMBINATORS = frozenset({"all", "any"})
_DEEPEST = 128
"""Below this depth nothing more is counted (the compiler refuses conditions nested, and
prerequisite chains, more than 64 deep)."""


class _TooCostly(Exception):
    """The count passed a bound: unwinds to the flag being counted."""


def cost_issues(doc: dict[str, Any], source: str | None = None) -> list[ConfigIssue]:
    """The issues of the flags (or the document) whose evaluation cost is over the bounds."""
    features = doc.get("features")
    if not isinstance(features, dict):
        return []
    segments = doc.get("segments")
    counter = _Counter(features, segments if isinstance(segments, dict) else {})
    issues: list[ConfigIssue] = []
    total = 0
    for key in features:
        try:
            cost = counter.flag(key)
        except _TooCostly:
            if key in counter.over:  # not a flag whose prerequisite is over (that one is reported)
                issues.append(
                    ConfigIssue(
                        f"one evaluation of this flag can make more than {MAX_FLAG_COST:,} condition"
                        " checks (conditions repeated through YAML aliases, segments used many times,"
                        " or prerequisites whose conditions add up multiply); write the condition"
                        " once, e.g. as a segment with an `in` list",
                        ("features", key),
                        source,
                    )
                )
            continue
        total += cost
        if total > MAX_DOCUMENT_COST and not issues:
            return [
                ConfigIssue(
                    f"evaluating every flag of this document can make more than {MAX_DOCUMENT_COST:,}"
                    f" condition checks (counted up to flag {key!r})",
                    (),
                    source,
                )
            ]
    return issues


class _Counter:
    """Counts with memos: per flag key, per segment name, per condition object (by id)."""

    def __init__(self, features: dict[str, Any], segments: dict[str, Any]) -> None:
        self.features = features
        self.segments = segments
        self.flags: dict[str, int] = {}
        self.calls: dict[str, int] = {}  # how often one evaluation evaluates the flag, as the compiler counts
        self.over: set[str] = set()  # flags over the bound by their own rules (not a prerequisite's)
        self.named: dict[str, int] = {}
        self.conditions: dict[int, int] = {}
        self.keep: list[Any] = []  # the objects whose ids are memo keys stay alive meanwhile
        self.busy: set[object] = set()  # being counted: a cycle counts 0 (the compiler refuses it)

    def flag(self, key: str, depth: int = 0) -> int:
        """The flag's count (memoized); 0 when the compiler refuses it anyway (a cycle, a
        prerequisite chain or diamond over its bounds).

        Raises:
            _TooCostly: The flag is over the bound (it is added to ``over``), or one of its
                prerequisites is (then it is not: that prerequisite is the one reported).
        """
        known = self.flags.get(key)
        if known is not None:
            return known
        if ("flag", key) in self.busy or depth > _DEEPEST:  # a cycle, or a chain the compiler refuses
            return 0
        self.busy.add(("flag", key))
        try:
            definition = self.features.get(key)
            cost, calls = 1, 1
            if isinstance(definition, dict):
                requires = definition.get("requires")
                for required in requires if isinstance(requires, list) else ():
                    for name in _required_keys(required):
                        if name in self.features:
                            cost += self.flag(name, depth + 1)  # its _TooCostly: not this flag's issue
                            calls += self.calls.get(name, 1)
                if calls > MAX_PREREQUISITE_EVALUATIONS:
                    cost = 0  # the compiler refuses it, naming the prerequisites
                else:
                    try:
                        cost = _bounded(cost)
                        rules = definition.get("rules")
                        for rule in rules if isinstance(rules, list) else ():
                            when = rule.get("when") if isinstance(rule, dict) else None
                            cost = _bounded(cost + 1 + self.condition(when, 0))
                    except _TooCostly:
                        self.over.add(key)
                        raise
        finally:
            self.busy.discard(("flag", key))
        self.flags[key] = cost
        self.calls[key] = calls
        return cost

    def segment(self, name: Any, depth: int) -> int:
        if not isinstance(name, str) or name not in self.segments or depth > _DEEPEST:
            return 0
        known = self.named.get(name)
        if known is not None:
            return known
        if ("segment", name) in self.busy:
            return 0
        self.busy.add(("segment", name))
        try:
            cost = self.condition(self.segments[name], depth + 1)
        finally:
            self.busy.discard(("segment", name))
        self.named[name] = cost
        return cost

    def condition(self, cond: Any, depth: int) -> int:
        if not isinstance(cond, dict) or depth > _DEEPEST:
            return 0
        ident = id(cond)
        known = self.conditions.get(ident)
        if known is not None:
            return known
        if ident in self.busy:  # a mapping containing itself (built in Python)
            return 0
        self.busy.add(ident)
        try:
            cost = 0
            for key, operand in cond.items():
                cost += 1
                if key in _COMBINATORS:
                    for part in operand if isinstance(operand, list) else ():
                        cost = _bounded(cost + self.condition(part, depth + 1))
                elif key == "not":
                    cost += self.condition(operand, depth + 1)
                elif key == "segment":
                    cost += self.segment(operand, depth + 1)
                elif isinstance(operand, dict):
                    for op, arg in operand.items():
                        if isinstance(arg, list) and op not in _SET_OPERATORS:
                            cost += len(arg)  # scanned per evaluation
                cost = _bounded(cost)
        finally:
            self.busy.discard(ident)
        self.conditions[ident] = cost
        self.keep.append(cond)
        return cost


def _bounded(cost: int) -> int:
    if cost > MAX_FLAG_COST:
        raise _TooCostly
    return cost


def _required_keys(required: Any) -> list[str]:
    if isinstance(required, str):
        return [required]
    if isinstance(required, dict):
        return [k for k in required if isinstance(k, str)]
    return []
