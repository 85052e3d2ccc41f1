"""The flag file format as pydantic models; the JSON Schema comes from here.

Validating a document against them, and turning pydantic's errors into issues a user acts on,
is :mod:`.validation`.

These models run once, when a document is loaded. Evaluation never touches them: the compiler
turns validated definitions into plain callables (see :mod:`flagkit._engine.compiler`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
)

__all__ = [
    "DOCUMENT",
    "OPERATORS",
    "BucketInput",
    "Bucketing",
    "Condition",
    "DocumentOptions",
    "FlagDefinition",
    "FlagDocument",
    "Ramp",
    "RampStep",
    "Rule",
    "StaticFlag",
    "json_schema",
]

StaticFlag = bool | int | float | str
"""A bare value under ``features``: every caller gets it (reason STATIC)."""

Condition = dict[str, Any]
"""A condition mapping; checked operator by operator by the compiler (see docs/format.md)."""

OPERATORS: dict[str, str] = {
    "eq": "equals the operand",
    "ne": "does not equal the operand",
    "in": "is one of the listed values",
    "not_in": "is none of the listed values",
    "contains": "string contains the operand (or list contains the element)",
    "starts_with": "string starts with the operand",
    "ends_with": "string ends with the operand",
    "matches": "string matches the regular expression (search)",
    "gt": "number greater than",
    "gte": "number greater than or equal",
    "lt": "number less than",
    "lte": "number less than or equal",
    "semver_eq": "semantic version equal",
    "semver_gt": "semantic version greater than",
    "semver_gte": "semantic version greater than or equal",
    "semver_lt": "semantic version less than",
    "semver_lte": "semantic version less than or equal",
    "before": "RFC 3339 date/date-time strictly before the operand (or `now`)",
    "at_or_before": "RFC 3339 date/date-time at or before the operand (or `now`)",
    "after": "RFC 3339 date/date-time strictly after the operand (or `now`)",
    "at_or_after": "RFC 3339 date/date-time at or after the operand (or `now`)",
    "exists": "attribute is present (true) or absent (false)",
    "in_cidr": "IPv4/IPv6 address inside the network (or one of the listed networks)",
    "any_element": "some element of a list attribute satisfies the condition (value, list or operators)",
}

_CONDITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Conditions, ANDed. `attr: value` is equality, `attr: [a, b]` is membership, "
        "`attr: {op: operand}` uses an operator; `all`, `any`, `not` combine; "
        "`segment: name` reuses a top-level segment."
    ),
    "properties": {
        "all": {"type": "array", "items": {"$ref": "#/$defs/Condition"}},
        "any": {"type": "array", "items": {"$ref": "#/$defs/Condition"}},
        "not": {"$ref": "#/$defs/Condition"},
        "segment": {"type": "string"},
    },
    "additionalProperties": {
        "anyOf": [
            {"type": ["string", "number", "boolean", "array", "null"]},
            {
                "type": "object",
                "properties": {op: {"description": text} for op, text in OPERATORS.items()},
                "additionalProperties": False,
            },
        ]
    },
}


_CONDITION_REF = "flagkit:condition"
"""Placeholder marking where a condition goes; json_schema() swaps in ``$ref: #/$defs/Condition``
(pydantic refuses a ``$ref`` it did not generate itself)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class RampStep(_Model):
    """One step of a ramp with its own time."""

    at: str = Field(description="ISO date or datetime (UTC unless an offset is given) the step begins.")
    percent: float = Field(description="Share of the split's first variant from then on.")


class Ramp(_Model):
    """A schedule that grows the first variant of a two-variant split (see the format reference, Ramps)."""

    start: str | None = Field(default=None, description="ISO date or datetime of the first step.")
    interval: str | int | float | None = Field(
        default=None, description="Time between steps: `30m`, `4h`, `1d`, `1w` or seconds."
    )
    steps: list[float | RampStep] = Field(
        description="Percentages of the first variant, never decreasing (with `start` and "
        "`interval`), or `{at, percent}` steps."
    )


BucketingScheme = Literal["flagd", "unleash", "unleash_variants", "launchdarkly"]


class Bucketing(_Model):
    """How a split hashes its users: flagkit's own (flagd's) or another system's, for migrations."""

    scheme: BucketingScheme = Field(
        default="flagd",
        description=(
            "`flagd` (default), `unleash` (rollouts: seed 0, 1-100), `unleash_variants` "
            "(seed 86028157, normalizer 1000) or `launchdarkly` (SHA-1, 0.001 %)."
        ),
    )
    group_id: str | None = Field(default=None, description="Unleash `groupId`; default: the flag key.")
    seed: int | None = Field(
        default=None,
        description="Unleash murmur3 seed, or LaunchDarkly's rollout `seed` (then `key`/`salt` are unused).",
    )
    normalizer: int | None = Field(
        default=None,
        description="Unleash: the total weight hashed into (100 for rollouts, the sum of variant weights).",
    )
    key: str | None = Field(default=None, description="LaunchDarkly flag key hashed; default: the flag key.")
    salt: str | None = Field(
        default=None, description="LaunchDarkly flag `salt`; default: the flag's `salt`, else its key."
    )


class BucketInput(_Model):
    """An explicit bucketing input, hashed as given (flagd's `fractional` with a computed input)."""

    input: str = Field(
        description=(
            "`{attr}` alone: that attribute's value; text with `{attr}` parts: the concatenation "
            "(`{org_id}:{user_id}`); `{$flag_key}` is the flag key; `{{`/`}}` are braces."
        )
    )
    salted: bool = Field(
        default=False,
        description="true: hash `[salt, input]` like the default; false (default): the input alone.",
    )


class Rule(_Model):
    """One targeting rule: when the conditions match, serve a variant or a percentage split."""

    name: str | None = Field(default=None, description="Shown as the evaluation's `rule`.")
    when: Condition | None = Field(
        default=None,
        description="Conditions; a rule without `when` matches everyone.",
        json_schema_extra={"$comment": _CONDITION_REF},
    )
    serve: str | dict[str, float] = Field(
        description="A variant name, or a split `{variant: percent}` summing to 100 (0.001 % steps)."
    )
    ramp: Ramp | None = Field(
        default=None, description="Grow the split's first variant on a schedule (two-variant splits)."
    )
    bucketing: BucketingScheme | Bucketing | None = Field(
        default=None, description="This split's bucketing scheme; default: the flag's `bucketing`."
    )


Requirement = str | dict[str, str | list[str] | bool]
"""One prerequisite: a flag key (on), or ``{key: variant | [variants] | true | false}``."""


class FlagDefinition(_Model):
    """A full flag definition (a mapping under ``features``)."""

    description: str | None = None
    owner: str | None = None
    expires: Annotated[dt.date | None, Field(strict=False)] = Field(
        default=None, description="ISO date after which the flag is flagged as debt."
    )
    enabled: bool = Field(
        default=True,
        description=(
            "Kill switch: false switches the flag off for everyone (DISABLED): its `off_variant`, "
            "else its false variant, else `default`."
        ),
    )
    variants: dict[str, Any] | None = Field(
        default=None, description="Variant name → value. Absent: boolean `on: true`, `off: false`."
    )
    default: str | None = Field(
        default=None,
        description=(
            "Variant served when no rule matches (`off` for boolean flags); `code_default`: "
            "the default the calling code passed."
        ),
    )
    off_variant: str | None = Field(
        default=None,
        description=(
            "Served when the flag is switched off (disabled, a prerequisite failed, a guard tripped); "
            "default: the variant whose value is false (`off` for boolean flags), else `default`; "
            "`code_default`: the caller's default."
        ),
    )
    bucket_by: str | BucketInput | None = Field(
        default=None,
        description=(
            "Context attribute for percentage splits (default `targeting_key`, then `user_id`), "
            "or `{input: ...}`: an explicit input hashed as given."
        ),
    )
    bucketing: BucketingScheme | Bucketing | None = Field(
        default=None,
        description="Bucketing scheme of this flag's splits: `flagd` (default), `unleash`, `launchdarkly`.",
    )
    salt: str | None = Field(
        default=None,
        description="Bucketing salt; defaults to the flag key. Change it to reshuffle.",
    )
    requires: list[Requirement] = Field(
        default_factory=list,
        description=(
            "Prerequisites, all required, else PREREQUISITE_FAILED: `key` (that flag is on), "
            "`{key: variant}` or `{key: [variants]}` (it serves one of them), `{key: false}` (it is off)."
        ),
    )
    rules: list[Rule] = Field(default_factory=list, description="Ordered; the first match wins.")
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    track: bool = Field(
        default=False,
        description="Report exposures (who got which variant) to `Flags.on_exposure` callbacks.",
    )
    client: bool = Field(
        default=False, description="Client-visible: included in `Flags.bootstrap()` for browsers."
    )


def _feature_kind(value: Any) -> str:
    return "flag" if isinstance(value, dict | FlagDefinition) else "static"


Feature = Annotated[
    Annotated[FlagDefinition, Tag("flag")] | Annotated[StaticFlag, Tag("static")],
    Discriminator(_feature_kind),
]


class DocumentOptions(_Model):
    """Switches that change how the whole document is read."""

    numeric_strings: bool = Field(
        default=False,
        description=(
            "Numeric operators (gt, gte, lt, lte; eq, ne, in, not_in with numbers) also read "
            'strings that are numbers, such as Unleash\'s `"42"`.'
        ),
    )


class FlagDocument(_Model):
    """A whole flag file."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, allow_inf_nan=False, populate_by_name=True
    )

    schema_: str | None = Field(default=None, alias="$schema")
    version: Annotated[int, Field(ge=0)] | None = Field(
        default=None,
        description="Version of the document (an integer >= 0). When present, providers "
        "refuse a document with a lower version than the one they serve (rollback protection).",
    )
    options: DocumentOptions = Field(default_factory=DocumentOptions)
    features: dict[str, Feature] = Field(default_factory=dict)
    segments: dict[str, Condition] = Field(
        default_factory=dict,
        json_schema_extra={"additionalProperties": {"$comment": _CONDITION_REF}},
    )


DOCUMENT = TypeAdapter(FlagDocument)
"""The document model as a type adapter: what :mod:`.validation` validates with."""


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the flag file format."""
    schema: dict[str, Any] = _link_conditions(DOCUMENT.json_schema(by_alias=True, mode="validation"))
    schema.setdefault("$defs", {})["Condition"] = _CONDITION_SCHEMA
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "flagkit flag file"
    return schema


def _link_conditions(node: Any) -> Any:
    """Replace the condition placeholders with references to ``#/$defs/Condition``."""
    if isinstance(node, dict):
        if node.get("$comment") == _CONDITION_REF:
            kept = {k: v for k, v in node.items() if k in ("default", "description", "title")}
            ref: dict[str, Any] = {"$ref": "#/$defs/Condition"}
            return {**kept, "anyOf": [ref, {"type": "null"}]} if "default" in node else {**kept, **ref}
        return {k: _link_conditions(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_link_conditions(v) for v in node]
    return node
