"""The flag file format as pydantic models; the JSON Schema comes from here.

These models run once, when a document is loaded. Evaluation never touches them: the compiler
turns validated definitions into plain callables (see :mod:`flagkit.compiler`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)

from .errors import ConfigIssue

__all__ = [
    "OPERATORS",
    "Condition",
    "DocumentOptions",
    "FlagDefinition",
    "FlagDocument",
    "Rule",
    "StaticFlag",
    "json_schema",
    "validate_document",
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


class FlagDefinition(_Model):
    """A full flag definition (a mapping under ``features``)."""

    description: str | None = None
    owner: str | None = None
    expires: Annotated[dt.date | None, Field(strict=False)] = Field(
        default=None, description="ISO date after which the flag is flagged as debt."
    )
    enabled: bool = Field(
        default=True, description="Kill switch: false serves `default` to everyone (DISABLED)."
    )
    variants: dict[str, Any] | None = Field(
        default=None, description="Variant name → value. Absent: boolean `on: true`, `off: false`."
    )
    default: str | None = Field(
        default=None, description="Variant served when no rule matches (`off` for boolean flags)."
    )
    bucket_by: str | None = Field(
        default=None,
        description="Context attribute for percentage splits; default `targeting_key`, then `user_id`.",
    )
    salt: str | None = Field(
        default=None,
        description="Bucketing salt; defaults to the flag key. Change it to reshuffle.",
    )
    requires: list[str] = Field(
        default_factory=list, description="Flags that must be on first; else PREREQUISITE_FAILED."
    )
    rules: list[Rule] = Field(default_factory=list, description="Ordered; the first match wins.")
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


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
    version: int | str | None = None
    options: DocumentOptions = Field(default_factory=DocumentOptions)
    features: dict[str, Feature] = Field(default_factory=dict)
    segments: dict[str, Condition] = Field(
        default_factory=dict,
        json_schema_extra={"additionalProperties": {"$comment": _CONDITION_REF}},
    )


_DOCUMENT = TypeAdapter(FlagDocument)
_UNION_LABELS = frozenset({"str", "dict[str,float]", "flag", "static", "bool", "int", "float"})


def _clean_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    out: list[str | int] = []
    for i, part in enumerate(loc):
        # Drop pydantic's union-member labels, which are not part of the document.
        if isinstance(part, str) and i > 0 and (part in _UNION_LABELS or "[" in part):
            prev = loc[i - 1]
            if (len(out) == 2 and out[0] == "features") or prev == "serve":
                continue
        out.append(part)
    return tuple(out)


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    return str(error["msg"])


def validate_document(doc: Any, source: str | None = None) -> FlagDocument | list[ConfigIssue]:
    """Validate a parsed document; return the model or every issue found (without lines)."""
    if not isinstance(doc, dict):
        return [ConfigIssue("a flag file must be a mapping with a `features` key", (), source)]
    if "features" not in doc:
        return [ConfigIssue("a flag file needs a top-level `features` mapping", (), source)]
    try:
        return _DOCUMENT.validate_python(doc)
    except ValidationError as exc:
        issues: list[ConfigIssue] = []
        seen: set[tuple[str | int, ...]] = set()
        errors = exc.errors()
        # A non-finite number in a union (a static flag) fails every member; say why, not
        # "Input should be a valid boolean".
        non_finite = {_clean_loc(tuple(e["loc"])) for e in errors if e["type"] == "finite_number"}
        for error in errors:
            path = _clean_loc(tuple(error["loc"]))
            if path in non_finite and error["type"] != "finite_number":
                continue
            if path in seen:
                continue
            seen.add(path)
            message = _message(error)
            near_serve = "serve" in path[-2:]
            if near_serve and error["type"] in {"string_type", "dict_type"}:
                message = "expected a variant name or a {variant: percent} mapping"
            issues.append(ConfigIssue(message, path, source))
        return issues


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the flag file format."""
    schema: dict[str, Any] = _link_conditions(_DOCUMENT.json_schema(by_alias=True, mode="validation"))
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
