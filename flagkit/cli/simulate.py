"""Evaluate a flag over a synthetic population, to check a rollout before it ships.

User ``i`` (of ``n``) gets the id ``user-{seed}-{i}`` as ``targeting_key``, ``user_id`` and the
flag's ``bucket_by`` attribute (so every user is its own account, say), then the fixed
attributes, then one value of each varied attribute: attribute ``j`` with ``k`` values takes
value ``(i // (k_0 * ... * k_{j-1})) % k``, so every combination gets an equal share of users.
The same arguments always give the same users, hence the same result.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._engine.compiler import DEFAULT_BUCKET_ATTRIBUTES, CompiledFlag
from .._engine.schemes import parse_template
from .._tools.render import show
from ..document.schema import BucketInput
from ..evaluation import CODE_DEFAULT_NAME
from ..flagset import FlagSet
from ._common import (
    OK,
    PROBLEMS,
    Exit,
    bucketing_attributes,
    clip,
    context_of,
    emit_json,
    load,
    plural,
    print_table,
    unknown_flag,
)

__all__ = ["Simulation", "id_attributes", "population", "simulate"]


@dataclass(slots=True)
class Simulation:
    """Counts from one simulation.

    Attributes:
        key: The flag key.
        users: Number of users evaluated.
        variants: Variant name → value, every variant of the flag in definition order.
        counts: Variant → users served it.
        outcomes: ``(variant, reason, rule)`` → users.
        by_attribute: Varied attribute → its value (as given) → variant → users.
        errors: Users whose evaluation raised (served nothing).
    """

    key: str
    users: int
    variants: dict[str, Any]
    counts: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str, str | None]] = field(default_factory=Counter)
    by_attribute: dict[str, dict[Any, Counter[str]]] = field(default_factory=dict)
    errors: int = 0

    def share(self, variant: str) -> float:
        """Fraction of users served ``variant``."""
        return self.counts[variant] / self.users if self.users else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts and shares."""
        return {
            "key": self.key,
            "users": self.users,
            "variants": [
                {"variant": name, "value": value, "count": self.counts[name], "share": self.share(name)}
                for name, value in self.variants.items()
            ],
            "outcomes": [
                {"variant": v, "reason": reason, "rule": rule, "count": n}
                for (v, reason, rule), n in self.outcomes.most_common()
            ],
            "by_attribute": {
                attr: [
                    {
                        "value": value,
                        "users": sum(c.values()),
                        "counts": {name: c[name] for name in self.variants},
                    }
                    for value, c in groups.items()
                ]
                for attr, groups in self.by_attribute.items()
            },
            "errors": self.errors,
        }


def id_attributes(*flags: CompiledFlag) -> list[str]:
    """The attributes that carry each synthetic user's id: the defaults and the flags' ``bucket_by``."""
    attrs = list(DEFAULT_BUCKET_ATTRIBUTES)
    for flag in flags:
        definition = flag.definition
        bucket_by = definition.bucket_by if definition is not None else None
        if isinstance(bucket_by, BucketInput):  # an explicit input: every attribute it names varies per user
            named = [attr for _, attr in parse_template(bucket_by.input, flag.key) if attr is not None]
        else:
            named = [bucket_by] if bucket_by else []
        attrs.extend(attr for attr in named if attr != "now" and attr not in attrs)
    return attrs


def population(
    users: int,
    id_attrs: Sequence[str],
    *,
    context: Mapping[str, Any] | None = None,
    vary: Sequence[tuple[str, Sequence[Any]]] = (),
    seed: int = 0,
) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    """The synthetic users described in this module's docstring, as ``(context, varied values)``."""
    fixed = dict(context or {})
    groups = [(attr, list(values)) for attr, values in vary]
    strides = []
    stride = 1
    for _, values in groups:
        strides.append(stride)
        stride *= len(values)
    prefix = f"user-{seed}-"
    for i in range(users):
        uid = prefix + str(i)
        ctx: dict[str, Any] = dict.fromkeys(id_attrs, uid)
        ctx.update(fixed)
        picked = []
        for (attr, values), step in zip(groups, strides, strict=True):
            value = values[(i // step) % len(values)]
            ctx[attr] = value
            picked.append(value)
        yield ctx, picked


def simulate(
    flagset: FlagSet,
    key: str,
    users: int,
    *,
    context: Mapping[str, Any] | None = None,
    vary: Sequence[tuple[str, Sequence[Any]]] = (),
    seed: int = 0,
) -> Simulation:
    """Evaluate ``key`` for ``users`` synthetic users and count the variants served.

    Args:
        flagset: The flags (prerequisites are evaluated too).
        key: The flag to simulate.
        users: Population size.
        context: Attributes every user has (override the generated ids when they name them).
        vary: ``(attribute, values)`` pairs; users are spread evenly over the combinations.
        seed: Changes the generated ids, hence which users land in which bucket.

    Raises:
        KeyError: ``key`` is not defined.
        ValueError: ``users`` is negative or a varied attribute has no values.
    """
    flag = flagset.flags[key]
    if users < 0:
        raise ValueError("the number of users must not be negative")
    for attr, values in vary:
        if not values:
            raise ValueError(f"--attr {attr} has no values")
    table = {k: f.resolve for k, f in flagset.flags.items()}
    result = Simulation(key, users, dict(flag.variants))
    groups = [(attr, list(values), {v: Counter[str]() for v in values}) for attr, values in vary]
    for attr, values, counters in groups:
        result.by_attribute[attr] = dict(zip(values, counters.values(), strict=True))
    resolve = flag.resolve
    counts = result.counts
    outcomes = result.outcomes
    for ctx, picked in population(users, id_attributes(flag), context=context, vary=vary, seed=seed):
        try:
            _value, served, reason, rule = resolve(ctx, table)
        except Exception:  # the client turns these into reason ERROR; count them the same way
            result.errors += 1
            continue
        variant = CODE_DEFAULT_NAME if served is None else served  # the caller's default
        counts[variant] += 1
        outcomes[(variant, str(reason), rule)] += 1
        for (_, _, counters), value in zip(groups, picked, strict=True):
            counters[value][variant] += 1
    return result


def run_simulate(args: argparse.Namespace) -> int:
    flagset = load(args.file, args.json)
    if args.key not in flagset.flags:
        raise Exit(PROBLEMS, unknown_flag(flagset, args.key, args.file))
    result = simulate(
        flagset,
        args.key,
        args.users,
        context=context_of(args, bucketing_attributes(flagset)),
        vary=args.attr or [],
        seed=args.seed,
    )
    if args.json:
        emit_json({**result.as_dict(), "seed": args.seed})
        return OK
    print(f"{args.key}: {plural(result.users, 'simulated user')} (seed {args.seed})")
    print("")
    rows = [["variant", "value", "users", "share"]]
    for name, value in result.variants.items():
        rows.append(
            [name, clip(show(value)), f"{result.counts[name]:,}", f"{100 * result.share(name):.2f} %"]
        )
    print_table(rows, right={2, 3})
    print("")
    print("by outcome:")
    rows = [["variant", "reason", "rule", "users", "share"]]
    for (variant, reason, rule), n in result.outcomes.most_common():
        rows.append([variant, reason, rule or "-", f"{n:,}", f"{100 * n / result.users:.2f} %"])
    print_table(rows, right={3, 4}, indent="  ")
    for attr, groups in result.by_attribute.items():
        print("")
        print(f"by {attr}:")
        names = list(result.variants)
        rows = [[attr, "users", *names]]
        for value, counts in groups.items():
            size = sum(counts.values())
            cells = [f"{100 * counts[n] / size:.1f} % ({counts[n]:,})" if size else "-" for n in names]
            rows.append([show(value) if not isinstance(value, str) else value, f"{size:,}", *cells])
        print_table(rows, right=set(range(1, len(names) + 2)), indent="  ")
    if result.errors:
        print(f"\n{plural(result.errors, 'evaluation')} failed (reason ERROR)")
    return OK
