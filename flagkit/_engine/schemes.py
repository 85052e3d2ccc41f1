"""Bucketing schemes besides the default, and explicit bucketing inputs (docs/format.md).

The default scheme (flagd ``fractional`` v3, :mod:`flagkit.bucketing`) has its own fast path in
the compiler. This module builds the others, as plain closures at load time:

* **Explicit input** (``bucket_by: {input: "{org_id}:{user_id}"}``): the text (or, for a lone
  ``{attr}``, the attribute's value itself) is hashed as given, not paired with the flag key,
  so flags in several services bucket identically — flagd's ``fractional`` with a computed
  first argument.
* **unleash**: ``murmur3_x86_32("groupId:value", seed) % normalizer``; the first arm whose
  cumulative Unleash weight exceeds it wins (Unleash's ``normalizedValue`` is this plus one,
  compared with ``<=``). Rollouts use seed 0 and normalizer 100; variants seed 86028157 and
  the total of the variant weights (1000 in Unleash's UI).
* **launchdarkly**: ``int(sha1("key.salt.value").hexdigest()[:15], 16) / 0xFFFFFFFFFFFFFFF``
  (``"seed.value"`` when a seed is set) against cumulative weights out of 100,000; computed in
  integers, so bucket boundaries are exact. A value that is neither a string nor an integer
  (or an absent one) is bucket 0, as LaunchDarkly does.

A *point function* maps the bucketing value to a bucket in ``[0, scale)`` or ``None`` (no
bucket: the split serves the flag's default).
"""

from __future__ import annotations

import functools
import hashlib
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mmh3

from ..bucketing import cbor_encode, encode_pair_prefix
from ..document.schema import Bucketing

__all__ = [
    "LD_SCALE",
    "UNLEASH_VARIANT_SEED",
    "InputTemplate",
    "Scheme",
    "bucket_text",
    "flagd_point",
    "input_getter",
    "parse_template",
    "point_function",
    "scaled_edges",
    "scheme_from",
]

UNLEASH_VARIANT_SEED = 86028157
"""The murmur3 seed Unleash uses for variants (its rollouts use 0)."""
LD_SCALE = 100_000
_LD_MAX = 0xFFFFFFFFFFFFFFF
_FLAG_KEY = "$flag_key"


@dataclass(frozen=True, slots=True)
class Scheme:
    """A resolved bucketing scheme (see :func:`point_function`).

    Attributes:
        name: ``flagd``, ``unleash`` or ``launchdarkly``.
        scale: Number of buckets (100,000, or Unleash's normalizer).
        salt: flagd: the salt; unleash: the group id; launchdarkly: ``key.salt`` (or the seed).
        seed: unleash's murmur3 seed; launchdarkly's rollout seed (``None``: key and salt).
    """

    name: str
    scale: int
    salt: str
    seed: int | None = None

    def describe(self) -> str:
        """One line for ``explain``."""
        if self.name == "unleash":
            return f"unleash groupId {self.salt!r}, seed {self.seed}, normalizer {self.scale}"
        if self.name == "launchdarkly":
            hashed = f"seed {self.seed}" if self.seed is not None else f"{self.salt!r}"
            return f"launchdarkly sha1 of {hashed}.value"
        return f"salt {self.salt!r}"


def bucket_text(value: Any) -> str | None:
    """The text of a value inside a concatenated input (JSON-like: ``true``, ``1``, ``1.5``);
    ``None`` for values that have none (absent, lists, mappings, objects)."""
    if type(value) is str:
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return None


InputTemplate = tuple[tuple[str, str | None], ...]
"""``(literal, attribute or None)`` pairs of a parsed ``bucket_by.input``."""


def parse_template(text: str, flag_key: str) -> InputTemplate:
    """Parse ``"{org_id}:{user_id}"``; ``{$flag_key}`` is the flag key, ``{{``/``}}`` are braces.

    Raises:
        ValueError: Malformed braces, a format spec or conversion, or no attribute at all.
    """
    parts: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in string.Formatter().parse(text):
        if spec or conversion:
            raise ValueError("write attributes as {name}, without a format spec or conversion")
        if field is None:
            parts.append((literal, None))
        elif field == "":
            raise ValueError("empty {} in the bucketing input")
        elif field == _FLAG_KEY:
            parts.append((literal + flag_key, None))
        else:
            parts.append((literal, field))
    if not any(attr for _, attr in parts):
        raise ValueError("the bucketing input names no attribute ({name})")
    return tuple(parts)


def input_getter(
    template: InputTemplate, getter: Callable[[str], Callable[[Mapping[str, Any]], Any]]
) -> Callable[[Mapping[str, Any]], Any]:
    """The bucketing value for a template: a lone ``{attr}`` yields the attribute's value as it
    is; otherwise the concatenated text, or ``None`` when an attribute is absent or has no text."""
    if len(template) == 1 and template[0][0] == "" and template[0][1] is not None:
        return getter(template[0][1])
    pieces = tuple((literal, getter(attr) if attr is not None else None) for literal, attr in template)
    text_of = bucket_text

    def concat(ctx: Mapping[str, Any]) -> Any:
        out: list[str] = []
        for literal, get in pieces:
            out.append(literal)
            if get is not None:
                text = text_of(get(ctx))
                if text is None:
                    return None
                out.append(text)
        return "".join(out)

    return concat


def point_function(scheme: Scheme, *, salted: bool = True) -> Callable[[Any], int | None]:
    """``value -> bucket in [0, scheme.scale)`` or ``None``; never raises."""
    hash32 = mmh3.hash
    # Each scheme's closure reads its text (str, or int as decimal) inline rather than through
    # a shared helper: one Python call less per evaluation (deliberate specialisation).
    if scheme.name == "unleash":
        prefix, seed, scale = scheme.salt + ":", scheme.seed or 0, scheme.scale

        def unleash(value: Any) -> int | None:
            if type(value) is str:
                text = value
            elif type(value) is int:
                text = str(value)
            else:
                return None
            result: int = hash32((prefix + text).encode("utf-8", "surrogatepass"), seed, False) % scale
            return result

        return unleash
    if scheme.name == "launchdarkly":
        start = f"{scheme.seed}." if scheme.seed is not None else scheme.salt + "."
        sha1 = hashlib.sha1

        def launchdarkly(value: Any) -> int | None:
            if type(value) is str:
                text = value
            elif type(value) is int:
                text = str(value)
            else:
                return 0  # LaunchDarkly: a value it cannot bucket is bucket 0
            digest = sha1((start + text).encode("utf-8", "surrogatepass"), usedforsecurity=False)
            return (int(digest.hexdigest()[:15], 16) * LD_SCALE) // _LD_MAX

        return launchdarkly
    salt_prefix = encode_pair_prefix(scheme.salt) if salted else b""
    return functools.partial(flagd_point, salt_prefix, scheme.scale, salted)


def flagd_point(prefix: bytes, scale: int, salted: bool, value: Any) -> int | None:
    """The flagd point of ``value``: ``(murmur3(prefix + cbor(value)) * scale) >> 32``, ``None``
    for no bucket. ``prefix`` is the encoded salt (:func:`flagkit.bucketing.encode_pair_prefix`)
    or ``b""`` for an explicit input, which is hashed as given, booleans included (as flagd's
    testbed does); paired with a salt, booleans are refused like the default path refuses them.

    The one flagd point function: :func:`point_function` binds it, and the default splits
    (:class:`flagkit._engine.splits.FlagdSplit`) call it for values their inlined fast path
    does not cover (not a string, or 256 UTF-8 bytes or more)."""
    if value is None or (salted and (value is True or value is False)):
        return None
    try:
        data = prefix + cbor_encode(value)
    except (ValueError, RecursionError):  # no CBOR form, or nested past the stack (or a cycle)
        return None
    point: int = (mmh3.hash(data, 0, False) * scale) >> 32
    return point


def scheme_from(spec: Bucketing | str | None, flag_key: str, flag_salt: str | None) -> Scheme:
    """The :class:`Scheme` a flag's (or rule's) ``bucketing`` field describes.

    Raises:
        ValueError: An option that does not belong to the scheme, or a bad normalizer.
    """
    if spec is None or isinstance(spec, str):
        spec = Bucketing(scheme=spec or "flagd")  # type: ignore[arg-type]  # a validated literal
    name = spec.scheme
    if name in ("unleash", "unleash_variants"):
        _only(spec, {"group_id", "seed", "normalizer"}, "unleash")
        variants = name == "unleash_variants"
        normalizer = spec.normalizer or (1000 if variants else 100)
        if not 0 < normalizer <= 1_000_000:
            raise ValueError("`normalizer` must be between 1 and 1,000,000")
        seed = spec.seed if spec.seed is not None else (UNLEASH_VARIANT_SEED if variants else 0)
        if not 0 <= seed < 2**32:
            raise ValueError("an Unleash `seed` is an unsigned 32-bit integer")
        group_id = spec.group_id if spec.group_id is not None else flag_key  # "" is Unleash's ""
        return Scheme("unleash", normalizer, group_id, seed)
    if name == "launchdarkly":
        _only(spec, {"key", "salt", "seed"}, "launchdarkly")
        # An empty salt is LaunchDarkly's default (``"key..value"``), never "unset".
        salt = _first_set(spec.salt, flag_salt, flag_key)
        return Scheme("launchdarkly", LD_SCALE, f"{_first_set(spec.key, flag_key)}.{salt}", spec.seed)
    _only(spec, set(), "flagd")
    return Scheme("flagd", LD_SCALE, _first_set(flag_salt, flag_key))


def _first_set(*values: str | None) -> str:
    """The first value that is set (``""`` is set: an empty salt is the empty salt)."""
    return next(value for value in values if value is not None)


def _only(spec: Bucketing, allowed: set[str], scheme: str) -> None:
    extra = sorted(spec.model_fields_set - allowed - {"scheme"})
    if extra:
        raise ValueError(f"`{extra[0]}` is not an option of the {scheme} scheme")


def scaled_edges(cumulative: list[int], scale: int, total: int) -> list[int]:
    """Cumulative weights (out of ``total``) in the scheme's buckets.

    Raises:
        ValueError: A weight does not fall on the scheme's bucket boundaries.
    """
    out = []
    for edge in cumulative:
        scaled, rest = divmod(edge * scale, total)
        if rest:
            step = 100 / scale
            raise ValueError(f"with {scale} buckets, weights must be multiples of {step:g} %")
        out.append(scaled)
    return out
