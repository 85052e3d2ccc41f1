"""Conditions → predicates: closures over one context mapping, built once at load.

Each condition mapping (a rule's ``when``, a segment) compiles to ``predicate(context) -> bool``.
Operators come from :mod:`flagkit._engine.operators`; this module handles attribute lookup, the
combinators (``all``, ``any``, ``not``, ``segment``) and ANDing several keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._generated import generate
from ..document.reader import int_too_long
from ..errors import ConfigIssue, did_you_mean
from . import operators
from .interning import Shared, canonical
from .ramps import Clock

__all__ = [
    "MAX_CONDITION_DEPTH",
    "MAX_FUSED",
    "ConditionCompiler",
    "Fused",
    "Issues",
    "Path",
    "Predicate",
    "Term",
    "attribute_getter",
    "compile_condition",
    "fused_arguments",
    "fused_parameters",
    "fused_terms",
    "fused_test",
    "value_problem",
]

MAX_CONDITION_DEPTH = 64
"""Deepest field path a condition may sit at (matches the YAML reader's nesting cap). A
``segment`` reference counts the segment's own depth on top of where it is used, because
evaluation nests the same way."""
Path = tuple[str | int, ...]
Predicate = Callable[[Mapping[str, Any]], bool]


class Issues:
    """Collects ConfigIssues for one document."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.items: list[ConfigIssue] = []

    def add(self, message: str, path: Path) -> None:
        self.items.append(ConfigIssue(message, path, self.source))


def value_problem(value: Any, levels: int) -> str | None:
    """Why a document value (a variant, metadata, an operand) is refused, or ``None``: lists and
    mappings nested more than ``levels`` deep, a non-finite number, or an integer too long to
    print. The readers refuse both
    already; this covers Python data (``from_dict``). Iterative, so safe on any input,
    including a list that contains itself."""
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        node, level = todo.pop()
        if isinstance(node, dict | list):
            if level >= levels:
                return f"nesting deeper than {MAX_CONDITION_DEPTH} levels"
            for child in node.values() if isinstance(node, dict) else node:
                kind = type(child)
                if kind is not str and kind is not bool:  # the common leaves need no look
                    todo.append((child, level + 1))
        elif isinstance(node, float):
            if node - node != 0.0:
                return f"{node} is not allowed: numbers must be finite"
        elif isinstance(node, int) and int_too_long(node):
            return "integer with more than 4,300 digits"
    return None


def attribute_getter(name: str, clock: Clock | None = None) -> Callable[[Mapping[str, Any]], Any]:
    """How conditions read attribute ``name``: ``clock`` for ``now``, a flat key, else a dotted
    path through nested mappings (``user.plan``). The getter returns ``None`` when absent.

    Without a ``clock``, ``now`` is read from the context like any other attribute (the engine
    reads no clock it is not given).
    """
    return _getter(name, clock)


def _getter(name: str, clock: Clock | None) -> Callable[[Mapping[str, Any]], Any]:
    if name == "now" and clock is not None:
        return lambda ctx: clock()
    if "." not in name:
        return lambda ctx: ctx.get(name)
    parts = tuple(name.split("."))

    def nested(ctx: Mapping[str, Any]) -> Any:
        value = ctx.get(name)
        if value is not None:
            return value
        value = ctx
        for part in parts:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    return nested


def _attribute(name: str, check: operators.ValuePredicate, clock: Clock) -> Predicate:
    if name == "now":
        return lambda ctx: check(clock())
    if "." not in name:
        return lambda ctx: check(ctx.get(name))
    get = _getter(name, clock)
    return lambda ctx: check(get(ctx))


def _all(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda ctx: a(ctx) and b(ctx)
    items = tuple(preds)

    def every(ctx: Mapping[str, Any]) -> bool:
        for pred in items:  # noqa: SIM110 - a plain loop is faster than all() over a generator
            if not pred(ctx):
                return False
        return True

    return every


def _any(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    items = tuple(preds)

    def some(ctx: Mapping[str, Any]) -> bool:
        for pred in items:  # noqa: SIM110 - a plain loop is faster than any() over a generator
            if pred(ctx):
                return True
        return False

    return some


class _TooDeep(Exception):
    """A segment nests too deep where it is used; unwinds to the outermost use to report it."""


class ConditionCompiler:
    """Compiles condition mappings (and the segments they use) into predicates.

    Equal conditions compile to one shared predicate (per ``shared`` table): an attribute with
    an equal operand, and ``all``/``any``/``not`` of the same predicates.
    """

    def __init__(
        self,
        segments: Mapping[str, Any],
        issues: Issues,
        *,
        clock: Clock,
        numeric_strings: bool = False,
        shared: Shared | None = None,
    ) -> None:
        self.segments = segments
        self.issues = issues
        self.clock = clock  # read by `now` conditions at evaluation, never here
        self.numeric_strings = numeric_strings
        self.shared: Shared = shared if shared is not None else {}
        self.compiled: dict[str, Predicate] = {}
        self.in_progress: set[str] = set()
        self.used: set[str] = set()
        self.depends: dict[str, frozenset[str]] = {}  # segment -> segments it uses, transitively
        self.heights: dict[str, int] = {}  # segment -> how deep its conditions nest
        self.deepest = 0  # deepest path reached by the condition being compiled
        self.offset = 0  # how deep the segment being compiled is used (its path starts afresh)

    def segment(self, name: Any, path: Path) -> Predicate | None:
        if not isinstance(name, str):  # no repr: a 5,000-digit int cannot even be printed
            self.issues.add(f"a segment name must be a string, not {type(name).__name__}", path)
            return None
        if name not in self.segments:
            known = ", ".join(sorted(self.segments)) or "none defined"
            hint = did_you_mean(name, self.segments)
            self.issues.add(f"unknown segment {name!r}{hint} (segments: {known})", path)
            return None
        self.used.add(name)
        if name in self.compiled:
            self.used |= self.depends[name]
            return self._placed(name, self.compiled[name], path)
        if name in self.in_progress:
            self.issues.add(f"segment {name!r} refers to itself", path)
            return None
        if name in self.heights:  # compiled before, with errors (already reported)
            return None
        self.in_progress.add(name)
        outer, self.used = self.used, {name}
        outer_deepest, self.deepest = self.deepest, 0
        outer_offset = self.offset
        reported = len(self.issues.items)
        # The segment's conditions nest below where it is used: counting that keeps a chain of
        # segments (each using the next) from recursing without bound here and at evaluation.
        self.offset += len(path) - 2
        try:
            pred = self.condition(self.segments[name], ("segments", name))
        except _TooDeep:
            if outer_offset:  # report once, where the outermost segment is used
                raise
            del self.issues.items[reported:]  # the segment's own errors come when it is compiled alone
            self.issues.add(
                f"conditions nested deeper than {MAX_CONDITION_DEPTH} levels (counting segment {name!r})",
                path,
            )
            return None
        finally:
            self.offset = outer_offset
            self.deepest, inner_deepest = outer_deepest, self.deepest
            self.used, inner_used = outer | self.used, self.used
            self.in_progress.discard(name)
        self.heights[name] = inner_deepest - 2  # below ("segments", name)
        self.depends[name] = frozenset(inner_used)
        if pred is None:
            return None
        self.compiled[name] = pred
        return self._placed(name, pred, path)

    def _placed(self, name: str, pred: Predicate, path: Path) -> Predicate | None:
        """``pred`` (segment ``name``) used at ``path``, unless that nests too deep in total."""
        depth = len(path) + self.heights[name]
        if depth > MAX_CONDITION_DEPTH:
            self.issues.add(
                f"conditions nested deeper than {MAX_CONDITION_DEPTH} levels (counting segment {name!r})",
                path,
            )
            return None
        self.deepest = max(self.deepest, depth)
        return pred

    def condition(self, cond: Any, path: Path) -> Predicate | None:
        if not isinstance(cond, dict) or not cond:
            self.issues.add("a condition must be a non-empty mapping", path)
            return None
        if self.offset + len(path) > MAX_CONDITION_DEPTH:  # JSON is not capped like YAML; evaluation recurses
            if self.offset:
                raise _TooDeep
            self.issues.add(f"conditions nested deeper than {MAX_CONDITION_DEPTH} levels", path)
            return None
        if len(path) > self.deepest:
            self.deepest = len(path)
        preds: list[Predicate] = []
        ok = True
        for key, operand in cond.items():
            sub = (*path, key)
            pred: Predicate | None
            if key == "all" or key == "any":
                if not isinstance(operand, list) or not operand:
                    self.issues.add(f"`{key}` takes a non-empty list of conditions", sub)
                    ok = False
                    continue
                parts = [self.condition(c, (*sub, i)) for i, c in enumerate(operand)]
                if any(p is None for p in parts):
                    ok = False
                    continue
                pred = self.combined(key, [p for p in parts if p is not None])
            elif key == "not":
                inner = self.condition(operand, sub)
                if inner is None:
                    ok = False
                    continue
                pred = self.combined("not", [inner])
            elif key == "segment":
                pred = self.segment(operand, sub)
            else:
                pred = self.attribute(key, operand, sub)
            if pred is None:
                ok = False
            else:
                preds.append(pred)
        return self.combined("all", preds) if ok and preds else None

    def combined(self, how: str, preds: list[Predicate]) -> Predicate:
        """``all``, ``any`` or ``not`` of ``preds``: one shared predicate per combination."""
        if len(preds) == 1 and how != "not":
            return preds[0]
        key = (how, *preds)  # compiled predicates compare by identity
        pred: Predicate | None = self.shared.get(key)
        if pred is None:
            found = [self.shared.get(("term", p)) for p in preds] if how != "not" else []
            terms = tuple(term for term in found if term is not None)
            if found and len(terms) == len(found) <= MAX_FUSED:
                pred = _fused(how, terms)
                self.shared[("fused", pred)] = (how, terms)
            else:
                pred = _negate(preds[0]) if how == "not" else (_all if how == "all" else _any)(preds)
            self.shared[key] = pred
        return pred

    def attribute(self, name: str, operand: Any, path: Path) -> Predicate | None:
        """``name: operand``, shared with every equal one compiled before."""
        key = ("attribute", name, canonical(operand))
        known: Predicate | None = self.shared.get(key)
        if known is not None and (
            # Only a list or mapping operand can be refused at one depth and not another.
            (type(operand) is not list and type(operand) is not dict)
            or value_problem(operand, MAX_CONDITION_DEPTH - len(path)) is None
        ):
            return known
        pred = self._attribute(name, operand, path)
        if pred is not None:
            self.shared[key] = pred
        return pred

    def _attribute(self, name: str, operand: Any, path: Path) -> Predicate | None:
        fused = _fused_equality(name, operand)
        if fused is not None:
            pred, term = fused
            if term is not None:  # a test `all`/`any` may fuse (see fused_terms)
                self.shared[("term", pred)] = term
            return pred
        problem = None if type(operand) is str else value_problem(operand, MAX_CONDITION_DEPTH - len(path))
        if problem is not None:
            self.issues.add(problem, path)
            return None
        numeric, clock = self.numeric_strings, self.clock
        try:
            if isinstance(operand, dict):
                if not operand:
                    raise operators.OperandError("empty operator mapping")
                checks = []
                for op, arg in operand.items():
                    try:
                        checks.append(operators.make_operator(op, arg, numeric_strings=numeric, clock=clock))
                    except (operators.OperandError, TypeError, ValueError) as exc:
                        self.issues.add(str(exc), (*path, op))
                if len(checks) != len(operand):
                    return None
                check = checks[0] if len(checks) == 1 else _all_values(checks)
            elif isinstance(operand, list):
                check = operators.make_operator("in", operand, numeric_strings=numeric, clock=clock)
            else:
                check = operators.make_operator("eq", operand, numeric_strings=numeric, clock=clock)
        except (operators.OperandError, TypeError, ValueError) as exc:
            self.issues.add(str(exc), path)
            return None
        return _attribute(name, check, clock)


def _fused_equality(name: str, operand: Any) -> tuple[Predicate, Term | None] | None:
    """One closure instead of two for the most common conditions on a plain attribute:
    ``attr: "text"``, ``attr: true`` and ``attr: [strings]`` (same results as the generic
    ``eq``/``in`` operators; saves a Python call, ~50 ns, per condition), with the
    :data:`Term` it tests when ``all``/``any`` may fuse it (not ``in``: see below)."""
    if "." in name or name == "now":
        return None
    if isinstance(operand, bool):
        return (lambda ctx: ctx.get(name) is operand), (name, "is", operand)
    if isinstance(operand, str):
        return (lambda ctx: ctx.get(name) == operand), (name, "==", operand)
    if isinstance(operand, list) and operand and all(isinstance(x, str) for x in operand):
        strings = frozenset(operand)

        def member(ctx: Mapping[str, Any]) -> bool:
            try:
                return ctx.get(name) in strings
            except TypeError:  # unhashable context value
                return False

        return member, None
    return None


# `all`/`any` of plain-attribute tests ``attr: "text"`` and ``attr: true`` (a rule's ``when``
# with several keys is their `all`) compile to ONE predicate generated from a template, as the
# client's evaluation methods are (flagkit._generated): ``ctx.get(n0) == o0 and ctx.get(n1)
# is o1``. One Python call instead of one per test plus the combinator's, the same results
# and the same short-circuit. Names and operands are closure variables, never source text; a
# maker is compiled once per shape (combinator and operators), at most MAX_FUSED tests. A
# flag with one such rule inlines the test into its resolver (flagkit._engine.rules.fused_rule).
MAX_FUSED = 8
Term = tuple[str, str, Any]
"""A plain-attribute test that may be fused: ``(attribute, "==" or "is", operand)``."""
Fused = tuple[str, tuple[Term, ...]]
"""What a fused predicate tests: ``("all" or "any", terms)``."""
_makers: dict[tuple[str, tuple[str, ...]], Callable[..., Predicate]] = {}


def fused_test(how: str, ops: tuple[str, ...], ref: str = "") -> str:
    """The source of the test of ``ops`` joined by ``how``: ``ctx.get({ref}n0) == {ref}o0 and ...``
    (``ref``: where the names and operands are, e.g. ``"self."``)."""
    joiner = " and " if how == "all" else " or "
    return joiner.join(f"ctx.get({ref}n{i}) {op} {ref}o{i}" for i, op in enumerate(ops))


def fused_parameters(count: int) -> list[str]:
    """The generated code's names for ``count`` tests' attributes and operands:
    ``n0, o0, n1, o1, ...`` (what :func:`fused_test` reads)."""
    return [f"{part}{i}" for i in range(count) for part in ("n", "o")]


def fused_arguments(terms: tuple[Term, ...]) -> tuple[Any, ...]:
    """The values of :func:`fused_parameters` for ``terms``, in the same order."""
    return tuple(part for attribute, _, operand in terms for part in (attribute, operand))


def fused_terms(shared: Shared, pred: Predicate) -> Fused | None:
    """What ``pred`` tests, if it is one plain-attribute test or a fused ``all``/``any``."""
    term: Term | None = shared.get(("term", pred))
    if term is not None:
        return "all", (term,)
    fused: Fused | None = shared.get(("fused", pred))
    return fused


def _fused(how: str, terms: tuple[Term, ...]) -> Predicate:
    """The generated ``all``/``any`` of ``terms``."""
    ops = tuple(op for _, op, _ in terms)
    maker = _makers.get((how, ops))
    if maker is None:
        params = ", ".join(fused_parameters(len(ops)))
        name = "every" if how == "all" else "some"
        test = fused_test(how, ops)
        source = f"def make({params}):\n    def {name}(ctx):\n        return {test}\n    return {name}\n"
        filename = f"<flagkit generated {how} of {' '.join(ops)}>"
        maker = _makers[(how, ops)] = generate(source, filename)["make"]
    return maker(*fused_arguments(terms))


def _negate(pred: Predicate) -> Predicate:
    return lambda ctx: not pred(ctx)


def _all_values(checks: list[operators.ValuePredicate]) -> operators.ValuePredicate:
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    items = tuple(checks)
    return lambda v: all(check(v) for check in items)


def compile_condition(
    cond: Any,
    segments: Mapping[str, Any] | None = None,
    path: Path = ("when",),
    *,
    clock: Clock,
    numeric_strings: bool = False,
) -> Predicate | list[ConfigIssue]:
    """Compile one condition mapping on its own (used by tools such as ``flagkit eval --explain``);
    ``clock`` is what ``now`` reads."""
    issues = Issues(None)
    compiler = ConditionCompiler(segments or {}, issues, clock=clock, numeric_strings=numeric_strings)
    pred = compiler.condition(cond, path)
    return pred if pred is not None and not issues.items else issues.items
