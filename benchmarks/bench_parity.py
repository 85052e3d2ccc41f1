"""Evaluation cost of the semantics-parity features (docs/format.md, "Coming from ...").

Run with `make bench`. Same method as bench_eval: 1,000 distinct users, best of 7, loop overhead
subtracted. The flagd-scheme 10 % rollout (S3 of bench_eval) is printed first for comparison.
"""

from __future__ import annotations

import flagkit

from .bench_eval import measure

USERS = [
    {
        "user_id": f"user-{i}",
        "org_id": f"org-{i % 50}",
        "ip": f"10.{i % 256}.{i // 256}.7" if i % 2 else f"192.168.{i % 256}.1",
        "roles": ["viewer", "editor"] if i % 3 else ["viewer", "admin"],
        "trial_ends_at": f"2026-{1 + i % 12:02d}-15T00:00:00Z",
        "age": str(10 + i % 60),
    }
    for i in range(1000)
]

SPLIT = {"on": 10, "off": 90}
FLAGS = {
    "options": {"numeric_strings": True},
    "features": {
        "flagd": {"bucket_by": "user_id", "rules": [{"serve": SPLIT}]},
        "input": {"bucket_by": {"input": "{org_id}:{user_id}"}, "rules": [{"serve": SPLIT}]},
        "unleash": {"bucket_by": "user_id", "bucketing": "unleash", "rules": [{"serve": SPLIT}]},
        "launchdarkly": {"bucket_by": "user_id", "bucketing": "launchdarkly", "rules": [{"serve": SPLIT}]},
        "cidr": {"rules": [{"when": {"ip": {"in_cidr": ["10.0.0.0/8", "2001:db8::/32"]}}, "serve": "on"}]},
        "any": {"rules": [{"when": {"roles": {"any_element": ["admin", "owner"]}}, "serve": "on"}]},
        "now": {"rules": [{"when": {"trial_ends_at": {"after": "now"}}, "serve": "on"}]},
        "numeric": {"rules": [{"when": {"age": {"gte": 18}}, "serve": "on"}]},
        "code_default": {"variants": {"a": "A"}, "default": "code_default"},
        "parent": {"variants": {"a": 1, "b": 2}, "default": "a", "rules": [{"serve": {"a": 50, "b": 50}}]},
        "by_variant": {"requires": [{"parent": "b"}], "rules": [{"serve": "on"}]},
    },
}


def main() -> None:
    flags = flagkit.Flags.from_dict(FLAGS)
    is_enabled = flags.is_enabled
    baseline = measure(lambda u: u, users=USERS)[0]
    print("semantics parity: is_enabled(key, context) unless noted, 1,000 distinct users")
    print(f"{'case':44} {'best ns':>8} {'median':>8}")
    cases = [
        ("10 % rollout, flagd scheme (as S3)", lambda u: is_enabled("flagd", u)),
        ("10 % rollout, explicit input {org_id}:{user_id}", lambda u: is_enabled("input", u)),
        ("10 % rollout, unleash scheme", lambda u: is_enabled("unleash", u)),
        ("10 % rollout, launchdarkly scheme", lambda u: is_enabled("launchdarkly", u)),
        ("in_cidr, two networks", lambda u: is_enabled("cidr", u)),
        ("any_element of a 2-element list", lambda u: is_enabled("any", u)),
        ("trial_ends_at: {after: now} (RFC 3339)", lambda u: is_enabled("now", u)),
        ("age: {gte: 18}, numeric string", lambda u: is_enabled("numeric", u)),
        ("code_default: get_value(key, 'x')", lambda u: flags.get_value("code_default", "x", u)),
        ("code_default: evaluate(key, 'x')", lambda u: flags.evaluate("code_default", "x", u)),
        ("requires {parent: b} (parent is a split)", lambda u: is_enabled("by_variant", u)),
    ]
    for label, fn in cases:
        best, median = measure(fn, users=USERS)
        print(f"{label:44} {best - baseline:8.0f} {median - baseline:8.0f}")


if __name__ == "__main__":
    main()
