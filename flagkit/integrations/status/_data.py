"""What the status page shows, as JSON-safe data: providers, flags in words, a user's answers."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from flagkit import CODE_DEFAULT, Flags
from flagkit._engine.compiler import Resolver, switched_off_variant

from ._words import flag_in_words

__all__ = ["MAX_ATTRIBUTES", "Query", "json_safe", "parse_query", "status_data"]

MAX_ATTRIBUTES = 50
"""At most this many ``key=value`` lines are read from the form."""
MAX_FIELD = 2000
"""Longer form fields are cut (the page is read-only; nothing needs more)."""


class Query:
    """The "what does user X get" form, parsed.

    Attributes:
        user: The user id typed (``user_id`` in the context), or ``""``.
        attributes: Parsed ``key=value`` lines (values as ``flagkit eval -c`` reads them).
        flag: One flag key to explain, or ``""`` for every flag.
        problems: Lines that could not be read.
    """

    __slots__ = ("attributes", "flag", "problems", "raw_attributes", "user")

    def __init__(self, user: str, raw_attributes: str, flag: str) -> None:
        from flagkit.cli._common import parse_value  # the CLI's reading of `-c attr=value`

        self.user = user[:MAX_FIELD].strip()
        self.raw_attributes = raw_attributes[: MAX_FIELD * 5]
        self.flag = flag[:MAX_FIELD].strip()
        self.attributes: dict[str, Any] = {}
        self.problems: list[str] = []
        for number, line in enumerate(self.raw_attributes.splitlines()[:MAX_ATTRIBUTES], 1):
            line = line.strip()
            if not line:
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                self.problems.append(f"line {number}: expected key=value")
                continue
            self.attributes[name.strip()] = parse_value(value.strip())

    @property
    def asked(self) -> bool:
        """True when the form was submitted with something to evaluate."""
        return bool(self.user or self.attributes)

    def context(self) -> dict[str, Any]:
        """The evaluation context: the attributes, with ``user_id`` from the user field."""
        ctx = dict(self.attributes)
        if self.user:
            ctx["user_id"] = self.user
        return ctx


def parse_query(query: Mapping[str, str]) -> Query:
    """Read the form fields ``user``, ``attrs`` and ``flag`` (missing ones are empty)."""
    return Query(query.get("user", ""), query.get("attrs", ""), query.get("flag", ""))


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as strings and other non-JSON values as ``str``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)


def _flag_data(flags: Flags, key: str) -> dict[str, Any]:
    flag = flags.get_flag(key)
    if flag is None:  # removed by a reload between keys() and here
        return {"key": key, "missing": True}
    definition = flag.definition
    return {
        "key": key,
        "kind": "static" if definition is None else ("disabled" if not definition.enabled else "rules"),
        "description": definition.description if definition else None,
        "owner": definition.owner if definition else None,
        "expires": definition.expires.isoformat() if definition and definition.expires else None,
        "source": flag.source,
        "variants": json_safe(dict(flag.variants)),
        "default_variant": flag.default_variant,
        "off_variant": switched_off_variant(flag) if definition is not None else None,
        "rules_in_words": flag_in_words(flag),
    }


def _answer(
    flags: Flags, table: Mapping[str, Resolver], key: str, context: Mapping[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {"key": key, "value": None, "variant": None, "reason": "ERROR", "rule": None}
    resolve = table.get(key)
    if resolve is None:
        out.update(error_code="FLAG_NOT_FOUND", trace=[])
        return out
    try:
        value, variant, reason, rule = resolve(context, table)
    except Exception as exc:
        out.update(error_code="GENERAL", trace=[f"evaluation failed: {type(exc).__name__}"])
        return out
    if value is CODE_DEFAULT:  # the calling code's default: the page cannot know it
        value = "(the caller's default: code_default)"
    out.update(value=json_safe(value), variant=variant, reason=str(reason), rule=rule, error_code=None)
    if reason == "QA_OVERRIDE":  # forced in this browser by a tester (flagkit.integrations._qa)
        out["trace"] = [
            "forced for this browser by a QA override (the flagkit_qa cookie); rules not evaluated"
        ]
        return out
    out["trace"] = _trace(flags, key, context) or []
    return out


def _trace(flags: Flags, key: str, context: Mapping[str, Any]) -> list[str] | None:
    """``flagkit eval --explain``'s trace for the flag set that serves ``key``."""
    from flagkit.cli.explain import explain, render_explanation

    flagset = _serving_flagset(flags, key)
    if flagset is None:
        return None
    try:
        return render_explanation(explain(flagset, key, context))
    except Exception:  # a trace is a courtesy; the answer above comes from the real evaluation
        return None


def _serving_flagset(flags: Flags, key: str) -> Any:
    # The explainer needs the flag's whole document (its segments), which only the client's
    # provider slots hold; the core has no public accessor yet (asked for: Flags.explain).
    for slot in getattr(flags, "_slots", ()):
        flagset = slot.flagset
        if flagset is not None and key in flagset.flags:
            served = flags.get_flag(key)
            if served is None or served.fingerprint != flagset.flags[key].fingerprint:
                return None  # an override or a newer version serves it: no trace of this one
            return flagset
    return None


def status_data(flags: Flags, query: Query | None = None, *, title: str = "flagkit status") -> dict[str, Any]:
    """Everything the page shows, JSON-safe. With ``query``, the answers for that context."""
    providers = [status.as_dict() for status in flags.status().values()]
    with flags.snapshot() as snap:  # one flag version for the whole page
        data: dict[str, Any] = {
            "title": title,
            "generated_at": time.time(),
            "ready": flags.ready,
            "generation": snap.generation,
            "providers": json_safe(providers),
            "flags": [_flag_data(flags, key) for key in sorted(snap.flags)],
        }
        usage = flags.usage()
        if usage is not None:
            data["usage"] = json_safe({"since": usage["since"], "flags": usage["flags"]})
        if query is not None and query.asked:
            context = query.context()
            # The compiled resolvers themselves, not flags.evaluate() nor the snapshot's table
            # (wrapped for usage and exposures): a staff member's question must not run the
            # application's hooks, count as usage or send exposure events.
            table = {key: flag.resolve for key, flag in snap.flags.items()}
            keys = [query.flag] if query.flag else sorted(table)
            data["query"] = {
                "user": query.user,
                "attributes": json_safe(query.attributes),
                "flag": query.flag or None,
                "problems": query.problems,
                "results": [_answer(flags, table, key, context) for key in keys],
            }
    return data
