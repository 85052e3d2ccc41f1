"""Percentage bucketing: flagd compatibility (golden vectors), stickiness, monotonicity,
independence and accuracy. These vectors are a public contract: see docs/format.md."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from flagkit import Flags, Reason
from flagkit.bucketing import bucket, cbor_encode, hash_bytes, pick


def split_flag(key: str, weights: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {key: {"variants": {v: v for v in weights}, "default": next(iter(weights)),
                  "rules": [{"serve": weights}], **extra}}  # fmt: skip


# flagd-testbed, gherkin/targeting.feature @fractional-v3, flag `fractional-flag-shorthand`:
# {"fractional": [["heads"], ["tails", 1]]} (weights 1:1) bucketing [flagKey, targetingKey].
SHORTHAND_V3 = [
    ("jon@company.com", "tails"),
    ("jane@company.com", "tails"),
    ("user-1", "heads"),
    ("user-2", "tails"),
    ("user-3", "heads"),
]


@pytest.mark.parametrize(("targeting_key", "expected"), SHORTHAND_V3)
def test_flagd_shorthand_vectors(targeting_key: str, expected: str) -> None:
    flags = Flags.from_dict(split_flag("fractional-flag-shorthand", {"heads": 50, "tails": 50}))
    result = flags.evaluate("fractional-flag-shorthand", "", {"targeting_key": targeting_key})
    assert (result.value, result.reason) == (expected, Reason.SPLIT)


# flagd-testbed @fractional-v3, flag `fractional-basic-flag`: the hashing input is the CBOR of
# the value itself, 25 buckets of weight 4.
BASIC_V3: list[tuple[Any, int]] = [
    (True, 5), (False, 1), ("user1", 22), ("user2", 16), ("123", 22), ("null", 8), ("", 4),
    ("a", 6), (123, 20), (456, 12), (0, 8), (2147483647, 10), (-2147483648, 8), (1.23, 14),
    (4.56, 18), (1.0, 23), (-2.0, 12), (1e20, 19), (65504.0, 16), ({"a": 1, "b": 2}, 23),
    ({"b": 2, "a": 1}, 23), ({}, 3),
]  # fmt: skip


@pytest.mark.parametrize(("value", "expected"), BASIC_V3)
def test_flagd_cbor_value_vectors(value: Any, expected: int) -> None:
    point = (hash_bytes(cbor_encode(value)) * 100) >> 32
    assert pick(point, list(range(4, 101, 4))) + 1 == expected


# flagd-testbed @fractional-v3, flag `fractional-flag`: {"cat": [flagKey, user.name]}, 4 x 25.
@pytest.mark.parametrize(
    ("name", "suit"),
    [("jack", "diamonds"), ("queen", "diamonds"), ("ten", "clubs"), ("nine", "clubs"), ("3", "spades")],
)
def test_flagd_concatenated_string_vectors(name: str, suit: str) -> None:
    point = (hash_bytes(cbor_encode("fractional-flag" + name)) * 100) >> 32
    assert ("clubs", "diamonds", "hearts", "spades")[pick(point, [25, 50, 75, 100])] == suit


# flagd-testbed `fractional-hash-edge-flag`: raw murmur3 values, unsigned.
@pytest.mark.parametrize(
    ("key", "h"),
    [("ejOoVL", 0), ("bY9fO-", 1), ("SI7p-", 2147483647), ("6LvT0", 2147483648), ("ceQdGm", 4294967295)],
)
def test_murmur3_edge_vectors(key: str, h: int) -> None:
    assert hash_bytes(key.encode()) == h


# CBOR byte vectors (flagd's cbor.spec.ts and RFC 8949 appendix A).
@pytest.mark.parametrize(
    ("value", "hex_bytes"),
    [
        (["my-flag", "user-123"], "82676d792d666c616768757365722d313233"),
        (1.0, "01"),
        (65504.0, "19ffe0"),
        (3.14, "fb40091eb851eb851f"),
        ({"b": 2, "a": 1}, "a2616101616202"),
        (-1, "20"),
        (1000000, "1a000f4240"),
        (18446744073709551615, "1bffffffffffffffff"),
        (-18446744073709551616, "3bffffffffffffffff"),
        (0.5, "f93800"),
        (100000.0, "1a000186a0"),
        (1.1, "fb3ff199999999999a"),
        (3.4028234663852886e38, "fa7f7fffff"),
        (float("inf"), "f97c00"),
        (float("nan"), "f97e00"),
        ("ü", "62c3bc"),
        ("x" * 300, "79012c" + "78" * 300),
    ],
)
def test_cbor_encoding(value: Any, hex_bytes: str) -> None:
    assert cbor_encode(value).hex() == hex_bytes


# Our own golden vectors for the flag file format (split written in percent, W = 100,000).
OWN_VECTORS = [("new_search", "user-1", 72128), ("new_search", "user-2", 5468), ("new_search", 42, 96663),
               ("checkout", "user-1", 72508)]  # fmt: skip


@pytest.mark.parametrize(("salt", "value", "expected"), OWN_VECTORS)
def test_own_bucket_vectors(salt: str, value: Any, expected: int) -> None:
    assert bucket(salt, value, 100_000) == expected


def test_weights_scale_like_flagd_integers() -> None:
    """A 10/90 split in percent buckets exactly like flagd's integer weights 1:9."""
    for i in range(20_000):
        value = f"u{i}"
        assert (bucket("k", value, 100_000) < 10_000) == (bucket("k", value, 10) < 1)


def rollout(percent: float, key: str = "rollout", **extra: Any) -> Flags:
    return Flags.from_dict({key: {"rules": [{"serve": {"on": percent, "off": 100 - percent}}], **extra}})


def test_sticky_within_a_process() -> None:
    flags = rollout(30)
    first = [flags.is_enabled("rollout", {"user_id": f"u{i}"}) for i in range(2000)]
    again = [rollout(30).is_enabled("rollout", {"user_id": f"u{i}"}) for i in range(2000)]
    assert first == again


def test_sticky_across_processes() -> None:
    code = (
        "import flagkit\n"
        "f = flagkit.Flags.from_dict({'r': {'rules': [{'serve': {'on': 30, 'off': 70}}]}})\n"
        "print(''.join('1' if f.is_enabled('r', {'user_id': f'u{i}'}) else '0' for i in range(500)))\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""})  # fmt: skip
    here = rollout(30, key="r")
    expected = "".join("1" if here.is_enabled("r", {"user_id": f"u{i}"}) else "0" for i in range(500))
    assert child.stdout.strip() == expected


def test_monotonic_when_raising_the_rollout() -> None:
    users = [{"user_id": f"user-{i}"} for i in range(20_000)]
    previous: set[int] = set()
    for percent in (1, 5, 10, 20, 50, 99.999, 100):
        flags = rollout(percent)
        enabled = {i for i, u in enumerate(users) if flags.is_enabled("rollout", u)}
        assert previous <= enabled, f"users dropped when raising to {percent} %"
        previous = enabled
    assert len(previous) == len(users)


def test_independent_between_flags() -> None:
    flags = Flags.from_dict({
        "a": {"rules": [{"serve": {"on": 10, "off": 90}}]},
        "b": {"rules": [{"serve": {"on": 10, "off": 90}}]},
    })  # fmt: skip
    users = [{"user_id": f"user-{i}"} for i in range(100_000)]
    in_a = [flags.is_enabled("a", u) for u in users]
    in_b = [flags.is_enabled("b", u) for u in users]
    both = sum(1 for x, y in zip(in_a, in_b, strict=True) if x and y)
    # Independent: P(a and b) = 1 % (expected 1,000; sd ~31).
    assert 850 < both < 1150


def test_salt_reshuffles() -> None:
    users = [{"user_id": f"user-{i}"} for i in range(10_000)]
    plain = rollout(50)
    salted = rollout(50, salt="reshuffle-1")
    same = sum(plain.is_enabled("rollout", u) == salted.is_enabled("rollout", u) for u in users)
    assert 4700 < same < 5300


@pytest.mark.parametrize("percent", [10, 1, 33.333])
def test_accuracy_on_100000_users(percent: float) -> None:
    flags = rollout(percent)
    hits = sum(flags.is_enabled("rollout", {"user_id": f"user-{i}"}) for i in range(100_000))
    assert abs(hits / 1000 - percent) <= 0.5


def test_multi_variant_split_accuracy() -> None:
    flags = Flags.from_dict(split_flag("exp", {"a": 50, "b": 25, "c": 25}))
    counts = {"a": 0, "b": 0, "c": 0}
    for i in range(100_000):
        counts[flags.get_value("exp", "", {"targeting_key": f"t{i}"})] += 1
    assert abs(counts["a"] / 1000 - 50) <= 0.5
    assert abs(counts["b"] / 1000 - 25) <= 0.5
    assert abs(counts["c"] / 1000 - 25) <= 0.5


def test_zero_weight_variant_never_served() -> None:
    flags = Flags.from_dict(split_flag("exp", {"a": 0, "b": 100}))
    assert {flags.variant("exp", {"user_id": f"u{i}"}) for i in range(2000)} == {"b"}


def test_missing_or_unusable_bucketing_value_gets_default() -> None:
    flags = Flags.from_dict(split_flag("exp", {"a": 0.001, "b": 99.999}))
    for ctx in ({}, {"user_id": None}, {"user_id": True}, {"user_id": object()}, {"user_id": b"bytes"}):
        result = flags.evaluate("exp", "", ctx)
        assert (result.variant, result.reason) == ("a", Reason.DEFAULT), ctx


def test_integer_ids_bucket_as_integers() -> None:
    """Integer ids are CBOR integers: 42 and "42" are different users (documented)."""
    assert bucket("k", 42, 100_000) != bucket("k", "42", 100_000)
    assert bucket("k", 42, 100_000) == bucket("k", 42.0, 100_000)


def test_targeting_key_wins_over_user_id() -> None:
    flags = rollout(50)
    for i in range(200):
        with_both = flags.is_enabled("rollout", {"targeting_key": f"t{i}", "user_id": "same"})
        assert with_both == flags.is_enabled("rollout", {"targeting_key": f"t{i}"})


def test_long_and_unicode_keys() -> None:
    flags = rollout(50)
    for value in ("é" * 300, "\U0001f600", "x" * 70_000, "\ud800"):
        assert flags.evaluate("rollout", False, {"user_id": value}).reason is Reason.SPLIT


# Null inside a list or map is CBOR simple value 22 (0xf6), as flagd v3's encoders write it
# (RFC 8949 appendix A: `[null]` is 0x81f6). Only a null bucketing value itself gets no bucket.
# The buckets were computed from the hex bytes by hand (mmh3 of 0x82, the salt, the bytes).
NULL_INSIDE = [
    ([None], "81f6", 23681),
    (["a", None], "826161f6", 94200),
    ({"a": None}, "a16161f6", 7749),
    ({"org": {"id": None, "tier": "gold"}}, "a1636f7267a2626964f6647469657264676f6c64", 64619),
]


@pytest.mark.parametrize(("value", "hex_bytes", "expected"), NULL_INSIDE)
def test_null_inside_a_list_or_map_is_bucketed(value: Any, hex_bytes: str, expected: int) -> None:
    assert cbor_encode(value).hex() == hex_bytes
    assert bucket("new_search", value, 100_000) == expected
    flags = Flags.from_dict(split_flag("f", {"a": 50, "b": 50}, bucket_by="uid"))
    assert flags.evaluate("f", "", {"uid": value}).reason is Reason.SPLIT


def test_a_bucketing_value_nested_past_the_stack_gets_the_default() -> None:
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    loop: list[Any] = []
    loop.append(loop)
    flags = Flags.from_dict(split_flag("f", {"a": 50, "b": 50}, bucket_by="uid"))
    for value in (deep, loop):
        result = flags.evaluate("f", "", {"uid": value})
        assert (result.value, result.reason) == ("a", Reason.DEFAULT)


def test_hash_space_edges_pick_the_arm_the_point_picks_for_every_possible_edge() -> None:
    """The default split compares the murmur3 hash with edges moved to hash space instead of
    scaling it to a point; for every edge a weight can have, the hashes on either side of the
    moved edge fall on the same sides of the point edge."""
    from flagkit._engine.splits import TOTAL_WEIGHT, hashed_edges

    resolution: Any = ("x", "x", Reason.SPLIT, None)
    for edge in range(TOTAL_WEIGHT + 1):
        ((bound, _),), _ = hashed_edges((((edge, resolution),), resolution))
        for h in (bound - 1, bound):
            if 0 <= h < 2**32:
                assert ((h * TOTAL_WEIGHT) >> 32 < edge) == (h < bound), (edge, h)


@pytest.mark.parametrize("weights", [{"a": 33.333, "b": 33.333, "c": 33.334}, {"a": 0.001, "b": 99.999}])
def test_a_split_serves_the_arm_of_the_reference_bucket(weights: dict[str, float]) -> None:
    flags = Flags.from_dict(split_flag("exp", weights))
    edges = [round(sum(list(weights.values())[: i + 1]) * 1000) for i in range(len(weights))]
    names = list(weights)
    for i in range(20_000):
        user = f"user-{i}" if i % 2 else "ü" * (i % 300)  # ASCII, non-ASCII, and 256 bytes or more
        expected = names[pick(bucket("exp", user, 100_000), edges)]
        assert flags.variant("exp", {"user_id": user}) == expected, user
