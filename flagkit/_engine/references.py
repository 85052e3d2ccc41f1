"""Cross-reference checks of a document's prerequisites (``requires``): unknown flags and
variants, cycles, and bounds on the depth and the work one evaluation may trigger."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..document.schema import FlagDefinition, FlagDocument
from ..errors import did_you_mean
from .compiled import BOOLEAN_VARIANTS, compile_static
from .conditions import Issues, Path

__all__ = ["MAX_PREREQUISITE_DEPTH", "MAX_PREREQUISITE_EVALUATIONS", "check_requires"]

MAX_PREREQUISITE_DEPTH = 64
"""Longest chain of ``requires`` (a flag requiring a flag requiring ...): evaluation recurses."""
MAX_PREREQUISITE_EVALUATIONS = 1_000
"""Most flag evaluations one evaluation may trigger through ``requires`` (shared prerequisites
count once per path, so diamonds of requirements grow exponentially without this bound)."""


def check_requires(doc: FlagDocument, issues: Issues) -> None:
    graph: dict[str, list[str]] = {}
    for key, flag in doc.features.items():
        if isinstance(flag, FlagDefinition):
            graph[key] = []
            for i, item in enumerate(flag.requires):
                where = ("features", key, "requires", i)
                if isinstance(item, dict) and len(item) != 1:
                    issues.add("write one prerequisite per entry: `{flag: variant}`", where)
                    continue
                req, want = (item, True) if isinstance(item, str) else next(iter(item.items()))
                graph[key].append(req)
                if req not in doc.features:
                    issues.add(f"requires unknown flag {req!r}{did_you_mean(req, doc.features)}", where)
                elif req == key:
                    issues.add("a flag cannot require itself", where)
                elif isinstance(want, str | list):
                    _check_required_variants(doc.features[req], req, want, (*where, req), issues)
    # Depth-first, with an explicit stack: a chain of thousands of flags must not recurse.
    state: dict[str, int] = {}  # 1 = visiting, 2 = done
    depth: dict[str, int] = {}  # longest chain of requires below a flag, itself included
    calls: dict[str, int] = {}  # flag evaluations one evaluation of it triggers (capped)
    cyclic = False
    for root, requires in graph.items():
        if not requires or root in state:  # no chain starts at a flag without prerequisites
            continue
        state[root] = 1
        trail = [root]
        stack = [iter(graph[root])]
        while stack:
            key = trail[-1]
            nxt = next(stack[-1], None)
            if nxt is not None:
                if state.get(nxt) == 1 and nxt != key:
                    cyclic = True
                    cycle = " → ".join([*trail[trail.index(nxt) :], nxt]) if nxt in trail else nxt
                    issues.add(f"prerequisite cycle: {cycle}", ("features", key, "requires"))
                elif state.get(nxt) is None and graph.get(nxt):
                    state[nxt] = 1
                    trail.append(nxt)
                    stack.append(iter(graph[nxt]))
                continue
            state[key] = 2
            trail.pop()
            stack.pop()
            if not cyclic:
                _measure(key, graph[key], depth, calls, issues)


def _measure(
    key: str, requires: list[str], depth: dict[str, int], calls: dict[str, int], issues: Issues
) -> None:
    """Bound the recursion and the work of evaluating ``key`` through its prerequisites."""
    below = [r for r in requires if r in depth]
    depth[key] = 1 + max((depth[r] for r in below), default=0)
    calls[key] = min(1 + sum(calls.get(r, 1) for r in requires), MAX_PREREQUISITE_EVALUATIONS + 1)
    path = ("features", key, "requires")
    # Reported once, at the flag where the bound is first crossed.
    if depth[key] == MAX_PREREQUISITE_DEPTH + 1:
        issues.add(f"prerequisite chain deeper than {MAX_PREREQUISITE_DEPTH} flags", path)
    elif (
        depth[key] <= MAX_PREREQUISITE_DEPTH
        and calls[key] > MAX_PREREQUISITE_EVALUATIONS
        and all(calls.get(r, 1) <= MAX_PREREQUISITE_EVALUATIONS for r in requires)
    ):
        issues.add(
            f"evaluating this flag would evaluate its prerequisites more than "
            f"{MAX_PREREQUISITE_EVALUATIONS:,} times (shared requirements count once per path)",
            path,
        )


def _check_required_variants(
    parent: Any, req: str, want: str | list[str], where: Path, issues: Issues
) -> None:
    names = [want] if isinstance(want, str) else want
    if not names:
        issues.add("list at least one variant (or write `true`/`false`)", where)
        return
    if isinstance(parent, FlagDefinition):
        variants: Mapping[str, Any] = parent.variants if parent.variants is not None else BOOLEAN_VARIANTS
    else:
        variants = compile_static(req, parent).variants
    for name in names:
        if name not in variants:
            known = ", ".join(variants)
            hint = did_you_mean(name, variants)
            issues.add(f"{name!r} is not a variant of {req!r}{hint} (variants: {known})", where)
