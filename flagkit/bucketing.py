"""Percentage bucketing, compatible with OpenFeature flagd's ``fractional`` (v3 of its spec).

The contract (documented in docs/format.md and pinned by golden vectors in
tests/engine/test_bucketing.py; changing it moves users between variants):

1. ``input = cbor([salt, value])``: RFC 8949 core deterministic CBOR of a two-element array.
   ``salt`` is the flag's ``salt`` or, by default, the flag key. ``value`` is the bucketing
   attribute: text strings as CBOR text; integers (and floats that are whole numbers in
   [-2**63, 2**64 - 1]) as CBOR integers; other floats in their shortest exact form (half,
   single, then double precision); booleans and ``null`` (inside a list or map) as CBOR
   simple values; lists and mappings as arrays and maps with keys sorted bytewise by their
   encoding. A ``null`` bucketing value itself gets no bucket (flagd v3 refuses it too).
2. ``h = murmur3_x86_32(input, seed=0)`` read as an unsigned 32-bit integer.
3. ``bucket = (h * W) >> 32`` where ``W`` is the split's total weight (weights are integers in
   units of 0.001 %, so ``W = 100_000`` for a split written in percent).
4. The first variant, in the order written, whose cumulative weight exceeds ``bucket`` wins.

Multiply-shift partitions ``[0, 2**32)`` identically for any ``W`` with the same proportions,
so a 50/50 split here and flagd's ``[["a", 1], ["b", 1]]`` put every user in the same variant.
With the default bucketing attribute (the targeting key) and the default salt (the flag key)
this is exactly flagd's shorthand ``fractional``, which hashes ``[flagKey, targetingKey]``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import mmh3

__all__ = ["bucket", "cbor_encode", "encode_pair_prefix", "hash_bytes", "pick"]

_U64 = 2**64


def _head(major: int, n: int) -> bytes:
    """CBOR initial byte(s) for major type ``major`` and argument ``n`` (shortest form)."""
    mt = major << 5
    if n < 24:
        return bytes((mt | n,))
    if n < 0x100:
        return bytes((mt | 24, n))
    if n < 0x10000:
        return bytes((mt | 25,)) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes((mt | 26,)) + n.to_bytes(4, "big")
    return bytes((mt | 27,)) + n.to_bytes(8, "big")


# Text-string heads for the common lengths, precomputed for the hot path.
_TEXT_HEADS: tuple[bytes, ...] = tuple(_head(3, n) for n in range(256))


def _encode_float(value: float) -> bytes:
    if value.is_integer() and -(2**63) <= value <= _U64 - 1:
        return _encode_int(int(value))
    if math.isnan(value):
        return b"\xf9\x7e\x00"
    for fmt, prefix in ((">e", b"\xf9"), (">f", b"\xfa")):
        try:
            packed = struct.pack(fmt, value)
        except OverflowError:
            continue
        if struct.unpack(fmt, packed)[0] == value:
            return prefix + packed
    return b"\xfb" + struct.pack(">d", value)


def _encode_int(value: int) -> bytes:
    if value >= 0:
        if value >= _U64:
            raise ValueError("integer too large to bucket")
        return _head(0, value)
    if -value - 1 >= _U64:
        raise ValueError("integer too small to bucket")
    return _head(1, -1 - value)


def cbor_encode(value: Any) -> bytes:
    """Deterministic CBOR (RFC 8949 §4.2.1) of a JSON-like value, as flagd v3 hashes it.

    Raises:
        ValueError: The value has no CBOR form here (bytes, objects, huge integers).
    """
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        n = len(raw)
        return (_TEXT_HEADS[n] if n < 256 else _head(3, n)) + raw
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if value is None:  # null inside a list or map (a null bucketing value itself gets no bucket)
        return b"\xf6"
    if isinstance(value, int):
        return _encode_int(value)
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, Mapping):
        items = sorted((cbor_encode(str(k)), cbor_encode(v)) for k, v in value.items())
        return _head(5, len(items)) + b"".join(k + v for k, v in items)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return _head(4, len(value)) + b"".join(cbor_encode(v) for v in value)
    raise ValueError(f"cannot bucket a value of type {type(value).__name__}")


def encode_pair_prefix(salt: str) -> bytes:
    """The constant start of ``cbor([salt, value])``: array head plus the encoded salt."""
    return b"\x82" + cbor_encode(salt)


def hash_bytes(data: bytes) -> int:
    """Unsigned murmur3 x86 32-bit hash with seed 0."""
    result: int = mmh3.hash(data, 0, False)
    return result


def bucket(salt: str, value: Any, total_weight: int) -> int:
    """The bucket in ``[0, total_weight)`` of ``value`` for a flag salted with ``salt``.

    Raises:
        ValueError: ``value`` cannot be bucketed (see :func:`cbor_encode`).
    """
    return (hash_bytes(encode_pair_prefix(salt) + cbor_encode(value)) * total_weight) >> 32


def pick(bucket_value: int, cumulative: Sequence[int]) -> int:
    """Index of the first cumulative weight greater than ``bucket_value``."""
    for index, edge in enumerate(cumulative):
        if bucket_value < edge:
            return index
    return len(cumulative) - 1
