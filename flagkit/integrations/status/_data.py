"""What the status page shows, as JSON-safe data: providers, flags in words, a user's answers."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flagkit import CODE_DEFAULT, ErrorCode, Flags, Reason
from flagkit._context import AMBIENT
from flagkit._engine.compiler import switched_off_variant
from flagkit._tools.render import render_explanation
from flagkit._tools.values import parse_value

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


def _answer(flags: Flags, key: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """What ``key`` serves ``context`` and why: :meth:`Flags.explain` on the pinned snapshot
    (the compiled resolvers themselves: no hooks, usage counts or exposure events)."""
    explanation = flags.explain(key, context)
    out: dict[str, Any] = {"key": key, "value": None, "variant": None, "reason": "ERROR", "rule": None}
    if explanation.error_code is not None:
        out["error_code"] = str(explanation.error_code)
        if explanation.error_code is ErrorCode.FLAG_NOT_FOUND:
            out["trace"] = []
        else:  # no context values: the message names only the exception's type
            out["trace"] = [explanation.error_message or "evaluation failed"]
        return out
    value = explanation.value
    if value is CODE_DEFAULT:  # the calling code's default: the page cannot know it
        value = "(the caller's default: code_default)"
    out.update(
        value=json_safe(value),
        variant=explanation.variant,
        reason=str(explanation.reason),
        rule=explanation.rule,
        error_code=None,
    )
    if (
        explanation.reason is Reason.QA_OVERRIDE
    ):  # forced in this browser by a tester (flagkit.integrations._qa)
        out["trace"] = [
            "forced for this browser by a QA override (the flagkit_qa cookie); rules not evaluated"
        ]
    elif explanation.kind in ("override", "untraced"):  # a test's value, or a version reloaded away
        out["trace"] = []
    else:
        out["trace"] = render_explanation(explanation)
    return out


@contextmanager
def _no_ambient_context() -> Iterator[None]:
    """The form's question is answered for the context typed, not merged over the staff
    member's own request context (which the framework integration set as ambient).
    ``Flags.explain`` merges the ambient context as ``evaluate`` does; the public API can
    only add to it, so the page sets the variable itself (flagkit's own package)."""
    token = AMBIENT.set({})
    try:
        yield
    finally:
        AMBIENT.reset(token)


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
            # Flags.explain, not flags.evaluate(): a staff member's question must not run the
            # application's hooks, count as usage or send exposure events.
            keys = [query.flag] if query.flag else sorted(snap.flags)
            with _no_ambient_context():
                results = [_answer(flags, key, context) for key in keys]
            data["query"] = {
                "user": query.user,
                "attributes": json_safe(query.attributes),
                "flag": query.flag or None,
                "problems": query.problems,
                "results": results,
            }
    return data
