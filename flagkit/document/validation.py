"""Validate a parsed document against the models of :mod:`.schema`, with every problem as a
:class:`~flagkit.errors.ConfigIssue` a user acts on: pydantic's union labels dropped from the
field path, one hint per union field, did-you-mean for unknown fields, and the cost bound
checked before pydantic copies anything."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ConfigIssue, did_you_mean
from .cost import cost_issues
from .schema import (
    DOCUMENT,
    Bucketing,
    BucketInput,
    DocumentOptions,
    FlagDefinition,
    FlagDocument,
    Ramp,
    RampStep,
    Rule,
)

__all__ = ["validate_document"]

_UNION_LABELS = frozenset({"str", "dict[str,float]", "flag", "static", "bool", "int", "float", "RampStep"})


def _clean_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    out: list[str | int] = []
    for i, part in enumerate(loc):
        # Drop pydantic's union-member labels, which are not part of the document.
        if isinstance(part, str) and i > 0 and (part in _UNION_LABELS or "[" in part):
            prev = loc[i - 1]
            if (len(out) == 2 and out[0] == "features") or prev in ("serve", "interval"):
                continue
            if isinstance(prev, int) and len(out) >= 2 and out[-2] == "steps":  # ramp steps
                continue
        out.append(part)
    return tuple(out)


_UNION_HINTS = {
    "bucketing": "expected flagd, unleash, unleash_variants or launchdarkly, or a mapping with `scheme`",
    "bucket_by": 'expected an attribute name, or {input: "{attr}...", salted: true|false}',
    "requires": "expected a flag key, or {flag: variant, [variants], true or false}",
}
_UNION_MODELS = frozenset({"Bucketing", "BucketInput"})


def _union_field_issue(loc: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], str | None] | None:
    """For the fields whose type is a union of a word and a mapping (``bucketing``, ``bucket_by``,
    ``requires`` entries): ``(path, hint)``, one issue per field instead of one per union member.
    A mistake inside the mapping form keeps its own message (``hint`` is ``None``)."""
    for i, part in enumerate(loc[:-1]):
        field = part if part in ("bucketing", "bucket_by") else None
        if isinstance(part, int) and i > 0 and loc[i - 1] == "requires":
            field = "requires"
        if field is None or i < 2 or loc[0] != "features":
            continue
        member, rest = loc[i + 1], loc[i + 2 :]
        if not isinstance(member, str):
            continue
        where = _clean_loc(loc[: i + 1])
        if member in _UNION_MODELS and rest:
            return (*where, *rest), None
        return where, _UNION_HINTS[field]
    return None


_PLAIN = {
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "finite_number": "numbers must be finite (no NaN or infinity)",
    "string_too_short": "must not be empty",
    "too_short": "must not be empty",
}


def _fields_at(path: tuple[str | int, ...]) -> list[str]:
    """The field names allowed in the mapping at ``path`` (for "did you mean")."""
    model: type[BaseModel] | None = None
    if not path:
        model = FlagDocument
    elif len(path) == 2 and path[0] == "features":
        model = FlagDefinition
    elif len(path) >= 2 and isinstance(path[-1], int) and path[-2] == "rules":
        model = Rule
    elif path[-1] == "ramp":
        model = Ramp
    elif len(path) >= 2 and isinstance(path[-1], int) and path[-2] == "steps":
        model = RampStep
    elif path[-1] == "bucketing":
        model = Bucketing
    elif path[-1] == "bucket_by":
        model = BucketInput
    elif path[-1] == "options":
        model = DocumentOptions
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _message(error: Any, path: tuple[str | int, ...] = ()) -> str:
    """pydantic's error in flagkit's words (no "Input should be ..." reaches a user)."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field" + (did_you_mean(path[-1], _fields_at(path[:-1])) if path else "")
    if kind == "missing":
        return "field required"
    if kind in ("bool_type", "bool_parsing") and isinstance(error.get("input"), str):
        word = error["input"]
        if word.lower() in ("on", "off", "yes", "no", "y", "n"):
            meant = "true" if word.lower() in ("on", "yes", "y") else "false"
            return f"expected true or false: YAML 1.2 reads `{word}` as a string; write {meant}"
    if kind in _PLAIN:
        return _PLAIN[kind]
    ctx = error.get("ctx") or {}
    if kind == "literal_error" and "expected" in ctx:
        return f"expected one of {ctx['expected']}" + did_you_mean(
            error.get("input"), _literals(ctx["expected"])
        )
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
        bound = next(iter(ctx.values()), "?")
        return f"must be {words[kind]} {bound}"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if message.startswith("Input should be "):
        message = "expected " + message.removeprefix("Input should be ").removeprefix("a valid ")
    return message


def _literals(expected: str) -> list[str]:
    return [part.strip(" '\"") for part in expected.replace(" or ", ",").split(",") if part.strip(" '\"")]


def validate_document(doc: Any, source: str | None = None) -> FlagDocument | list[ConfigIssue]:
    """Validate a parsed document; return the model or every issue found (without lines)."""
    if not isinstance(doc, dict):
        return [ConfigIssue("a flag file must be a mapping with a `features` key", (), source)]
    if "features" not in doc:
        return [ConfigIssue("a flag file needs a top-level `features` mapping", (), source)]
    costly = cost_issues(doc, source)  # before pydantic, which would copy every alias
    if costly:
        return costly
    try:
        return DOCUMENT.validate_python(doc)
    except ValidationError as exc:
        issues: list[ConfigIssue] = []
        seen: set[tuple[str | int, ...]] = set()
        errors = exc.errors()
        # A non-finite number in a union (a static flag) fails every member; say why, not
        # "Input should be a valid boolean".
        non_finite = {_clean_loc(tuple(e["loc"])) for e in errors if e["type"] == "finite_number"}
        # A mistake inside the mapping form of a union field is reported as itself, not also
        # as "expected a word or a mapping".
        detailed: set[tuple[str | int, ...]] = set()
        for error in errors:
            hinted = _union_field_issue(tuple(error["loc"]))
            if hinted is not None and hinted[1] is None:
                detailed.update(hinted[0][:n] for n in range(len(hinted[0])))
        for error in errors:
            hinted = _union_field_issue(tuple(error["loc"]))
            if hinted is not None:
                where, hint = hinted
                if where not in seen and (hint is None or where not in detailed):
                    seen.add(where)
                    issues.append(ConfigIssue(hint or _message(error, where), where, source))
                continue
            path = _clean_loc(tuple(error["loc"]))
            if path in non_finite and error["type"] != "finite_number":
                continue
            if path in seen:
                continue
            seen.add(path)
            message = _message(error, path)
            near_serve = "serve" in path[-2:]
            if near_serve and error["type"] in {"string_type", "dict_type"}:
                message = "expected a variant name or a {variant: percent} mapping"
            issues.append(ConfigIssue(message, path, source))
        return issues
