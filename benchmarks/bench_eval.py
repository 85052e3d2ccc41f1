"""Evaluation speed: ns per call for the five scenarios of the core issue.

Run with `make bench`. Each scenario evaluates over 1,000 distinct user contexts, best of
several repeats (the minimum is the least noisy estimate on a shared machine). A hand-written
`if` over the same dicts is printed for comparison.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import flagkit

USERS = [
    {
        "user_id": f"user-{i}",
        "country": ("US", "DE", "FR", "BR")[i % 4],
        "premium": i % 3 == 0,
    }
    for i in range(1000)
]

FLAGS = {
    "features": {
        "s1_boolean": True,
        "s2_rule": {"rules": [{"when": {"country": "US", "premium": True}, "serve": "on"}]},
        "s3_rollout": {"bucket_by": "user_id", "rules": [{"serve": {"on": 10, "off": 90}}]},
        "s4_rule_rollout": {
            "bucket_by": "user_id",
            "rules": [{"when": {"country": "US", "premium": True}, "serve": {"on": 10, "off": 90}}],
        },
    }
}

TARGETS = {"S1": 300, "S2": 800, "S3": 1200, "S4": 1200, "S5": 300}


def measure(
    fn: Callable[[dict[str, Any]], Any],
    repeats: int = 7,
    loops: int = 100,
    users: list[dict[str, Any]] = USERS,
) -> tuple[float, float]:
    """(best, median) over `repeats` of the ns per call of fn over all users, `loops` passes each."""
    results = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(loops):
            for user in users:
                fn(user)
        results.append((time.perf_counter_ns() - start) / (loops * len(users)))
    return min(results), statistics.median(results)


def handwritten(user: dict[str, Any]) -> bool:
    return user.get("country") == "US" and user.get("premium") is True


def main() -> None:
    flags = flagkit.Flags.from_dict(FLAGS)
    is_enabled = flags.is_enabled
    scenarios: list[tuple[str, str, Callable[[dict[str, Any]], Any]]] = [
        ("S1", "boolean flag", lambda u: is_enabled("s1_boolean", u)),
        ("S2", "rule country == US and premium", lambda u: is_enabled("s2_rule", u)),
        ("S3", "10 % rollout by user_id", lambda u: is_enabled("s3_rollout", u)),
        ("S4", "10 % rollout behind the rule", lambda u: is_enabled("s4_rule_rollout", u)),
        ("S5", "unknown flag -> default", lambda u: is_enabled("no_such_flag", u)),
    ]
    baseline = measure(lambda u: u)[0]
    hand = measure(lambda u: u.get("country") == "US" and u.get("premium") is True)[0]
    hand_call = measure(lambda u: handwritten(u))[0]
    print(f"flagkit {flagkit.__version__}: is_enabled(key, context), 1,000 distinct users")
    print(f"loop overhead subtracted: {baseline:.0f} ns; hand-written `if` for S2: {hand - baseline:.0f} ns,")
    print(f"  or {hand_call - baseline:.0f} ns as a function call (def check(user): ...)")
    print(f"{'':4} {'scenario':34} {'best ns':>8} {'median':>8} {'target':>8}")
    failed = False
    for name, label, fn in scenarios:
        best, median = measure(fn)
        best -= baseline
        median -= baseline
        ok = best <= TARGETS[name]
        failed |= not ok
        print(f"{name:4} {label:34} {best:8.0f} {median:8.0f} {TARGETS[name]:8d} {'ok' if ok else 'SLOW'}")
    matching = [{**u, "country": "US", "premium": True} for u in USERS]
    worst = measure(lambda u: is_enabled("s4_rule_rollout", u), users=matching)[0] - baseline
    print(f"S4 when every user matches the rule (worst case): {worst:.0f} ns")
    details = measure(lambda u: flags.evaluate("s4_rule_rollout", False, u))[0] - baseline
    print(f"evaluate() with details, S4: {details:.0f} ns")
    with flags.context(country="US"):
        ambient = measure(lambda u: is_enabled("s2_rule", {"premium": True}))[0] - baseline
    print(f"S2 with ambient context merged under explicit: {ambient:.0f} ns")
    observed(scenarios, baseline)
    regex_worst_case()
    if failed:
        print("some scenarios missed their targets")


def observed(scenarios: list[tuple[str, str, Callable[[dict[str, Any]], Any]]], baseline: float) -> None:
    """S1-S4 again on a client with one hook (a no-op ``after``), as ns per call."""
    flags = flagkit.Flags.from_dict(FLAGS)
    is_enabled = flags.is_enabled

    class NoOp(flagkit.Hook):
        def after(self, hook_context: flagkit.HookContext, details: flagkit.Evaluation[Any]) -> None:
            pass

    flags.add_hook(NoOp())
    keys = {"S1": "s1_boolean", "S2": "s2_rule", "S3": "s3_rollout", "S4": "s4_rule_rollout"}
    row = []
    for name, _, _ in scenarios[:4]:

        def call(user: dict[str, Any], key: str = keys[name]) -> bool:
            return is_enabled(key, user)

        best = measure(call, repeats=5, loops=30)[0] - baseline
        row.append(f"{name} {best:.0f}")
    print("with one hook (no-op after), ns:", ", ".join(row))


def regex_worst_case() -> None:
    """Adversarial values at the length cap against patterns the safety check allows."""
    from flagkit.operators import MAX_MATCH_LENGTH

    n = MAX_MATCH_LENGTH
    cases = [
        (r".*beta", "x" * n),
        (r"^.*a.*b$", "a" * (n - 1) + "!"),
        (r"\d+x", "1" * n),
        (r"^[^@]+@[^@]+\.[a-z]+$", "a@" + "b." * ((n - 3) // 2) + "!"),
    ]
    for pattern, value in cases:
        rule = {"when": {"s": {"matches": pattern}}, "serve": "on"}
        flags = flagkit.Flags.from_dict({"f": {"rules": [rule]}})
        start = time.perf_counter_ns()
        for _ in range(20):
            flags.is_enabled("f", {"s": value})
        per_call = (time.perf_counter_ns() - start) / 20 / 1000
        print(f"regex worst case {pattern!r:28} on {len(value)} chars: {per_call:8.1f} us")


if __name__ == "__main__":
    main()
