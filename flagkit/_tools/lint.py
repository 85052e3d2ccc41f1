"""Warnings about valid flag files: things that load fine but are probably mistakes or debt.

Checks (each warning carries a ``code``):

* ``expired`` — the flag's ``expires`` date has passed: remove the flag and its code paths.
* ``unreachable-rule`` — a rule comes after a rule without ``when``, which catches everyone
  (a split without ``when`` too: a context it cannot bucket gets the default, not the next rule).
* ``single-variant-split`` — one variant of a split has all the weight (the others have 0), so
  the split serves one variant to everyone: write ``serve: <variant>``, or finish the rollout.
* ``unused-segment`` — a segment no flag refers to.
* ``ramp-complete`` — a ramp has reached its last step: write the final split (or ``serve:``)
  and remove the ``ramp``, so the file says what is served.
* ``ramp-drops-users`` — the split as written gives the ramped variant more than the first
  step, so users drop out when the ramp starts.
* ``yaml-boolean-word`` — a static flag whose value is the string ``on``/``off``/``yes``/``no``/
  ``y``/``n``: YAML 1.2 (which flagkit reads) makes these strings, not booleans, so
  ``is_enabled`` is False for ``dark_mode: on``; write ``true``/``false`` (or quote the word to
  mean the string).
* ``disabled-serves-truthy`` — a disabled flag (``enabled: false``) without ``off_variant``
  that serves a truthy value: it has no ``false`` variant, so switched off it serves its
  ``default``, which is not an obvious "off"; write ``off_variant`` to say what killed means.
* ``never-matches`` — a condition that can never match (or never fail) the values a context
  holds: ``country: {eq: [US]}`` compares the attribute with the whole list (write
  ``country: [US]`` for "one of"); ``premium: "true"`` is the string, never the boolean
  ``true`` (unless the document's ``options.numeric_strings`` says contexts hold strings).
* ``strict-after`` — ``after`` with a bare date (``after: "2026-12-01"``): ``after`` is strict,
  so the midnight instant itself does not match; write ``at_or_after`` if it should (``after``
  meant at-or-after before this release).

Lint runs on a loaded :class:`~flagkit.FlagSet`; it reads only the validated document, in one
pass, so it costs far less than loading.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from .._engine.compiler import BOOLEAN_VARIANTS, off_variant_name
from .._engine.operators import parse_rfc3339
from .._engine.ramps import ramps_of
from ..document.reader import line_for, locate_lines
from ..document.schema import FlagDefinition, FlagDocument
from ..errors import flag_of, format_location, format_path
from ..evaluation import CODE_DEFAULT_NAME
from ..flagset import FlagSet

__all__ = ["LintWarning", "lint"]

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class LintWarning:
    """One warning about a flag file.

    Attributes:
        code: Machine-readable kind (``expired``, ``unreachable-rule``, ``single-variant-split``,
            ``unused-segment``, ``ramp-complete``, ``ramp-drops-users``, ``yaml-boolean-word``,
            ``disabled-serves-truthy``, ``strict-after``, ``never-matches``).
        message: What is wrong and what to do, in words.
        path: Path of the field inside the document, e.g. ``("features", "x", "rules", 2)``.
        source: The file name.
        line: 1-based line number, when known.
    """

    code: str
    message: str
    path: Path = ()
    source: str | None = None
    line: int | None = None

    @property
    def flag(self) -> str | None:
        """The flag key the warning is about, if any."""
        return flag_of(self.path)

    def __str__(self) -> str:
        where = format_location(self.source, self.line)
        field = format_path(self.path)
        return f"{where}: {field}: {self.message} [{self.code}]" if field else f"{where}: {self.message}"


def lint(
    flagset: FlagSet,
    *,
    today: dt.date | None = None,
    data: bytes | str | None = None,
    now: float | None = None,
) -> list[LintWarning]:
    """Every warning for a loaded flag set, in document order (by line when ``data`` is given).

    Args:
        flagset: The flags, loaded from a document (``flagset.document`` set).
        today: The date ``expires`` is compared with (defaults to today, local time).
        data: The document's text; when given, warnings carry line numbers.
        now: The time ramps are checked at (seconds since the epoch; default: now).
    """
    doc = flagset.document
    if doc is None:
        return []
    today = today or dt.date.today()
    source = flagset.source
    out: list[LintWarning] = []
    for key, flag in doc.features.items():
        if not isinstance(flag, FlagDefinition):
            if isinstance(flag, str) and flag.lower() in _BOOLEAN_WORDS:
                out.append(
                    LintWarning(
                        "yaml-boolean-word",
                        f"`{flag}` is the string {flag!r}, not a boolean (YAML 1.2): is_enabled() is "
                        f"False; write `{'true' if flag.lower() in _TRUE_WORDS else 'false'}`, or quote it "
                        "to mean the string",
                        ("features", key),
                        source,
                    )
                )
            continue
        base: Path = ("features", key)
        if flag.expires is not None and flag.expires < today:
            days = (today - flag.expires).days
            out.append(
                LintWarning(
                    "expired",
                    f"expired on {flag.expires.isoformat()} ({days} day{'s' if days != 1 else ''} ago): "
                    "remove the flag and the code paths it guards",
                    (*base, "expires"),
                    source,
                )
            )
        if not flag.enabled and flag.off_variant is None:
            warning = _disabled_serves_truthy(flag, base, source)
            if warning is not None:
                out.append(warning)
        catch_all: int | None = None
        for index, rule in enumerate(flag.rules):
            path = (*base, "rules", index)
            if catch_all is not None:
                label = f" {rule.name!r}" if rule.name else ""
                out.append(
                    LintWarning(
                        "unreachable-rule",
                        f"rule{label} can never match: rules[{catch_all}] has no `when` and catches everyone",
                        path,
                        source,
                    )
                )
            elif rule.when is None:
                catch_all = index
            if isinstance(rule.serve, dict) and rule.ramp is None:
                live = [name for name, weight in rule.serve.items() if weight > 0]
                if len(live) == 1:
                    out.append(
                        LintWarning(
                            "single-variant-split",
                            f"split serves only {live[0]!r} (every other variant has weight 0): "
                            f"write `serve: {live[0]}`",
                            (*path, "serve"),
                            source,
                        )
                    )
    for where, operand in _after_operands(doc):
        out.append(
            LintWarning(
                "strict-after",
                f"`after: {operand}` does not match {operand} 00:00:00 itself (after is strict); "
                "write `at_or_after` to include it",
                where,
                source,
            )
        )
    out.extend(_ramp_warnings(flagset, doc, time.time() if now is None else now))
    out.extend(never_matching(doc, source))
    for name in doc.segments:
        if name in flagset.unused_segments:
            out.append(
                LintWarning("unused-segment", "segment is not used by any flag", ("segments", name), source)
            )
    if out and data is not None:
        out = [w for w in out if w.code != "yaml-boolean-word" or not _quoted(data, w.path)]
    if out and data is not None:
        marks = locate_lines(data)
        # A mapping inside a list is located where it ends; its first key gives the better line.
        items = {w.path for w in out if w.path and isinstance(w.path[-1], int)}
        first_key: dict[Path, int] = {}
        for where, line in marks.items():
            parent = where[:-1]
            if parent in items and line < first_key.get(parent, line + 1):
                first_key[parent] = line
        out = [replace(w, line=first_key.get(w.path) or line_for(marks, w.path)) for w in out]
        out.sort(key=lambda w: w.line or 0)
    return out


_TRUE_WORDS = frozenset({"on", "yes", "y"})
_BOOLEAN_WORDS = _TRUE_WORDS | {"off", "no", "n"}


def _disabled_serves_truthy(flag: FlagDefinition, base: Path, source: str | None) -> LintWarning | None:
    variants = flag.variants if flag.variants is not None else BOOLEAN_VARIANTS
    default = flag.default if flag.default is not None else "off"
    name = off_variant_name(variants, default, flag.off_variant)
    if name == CODE_DEFAULT_NAME or not variants.get(name):
        return None
    return LintWarning(
        "disabled-serves-truthy",
        f"disabled, yet everyone gets {name!r} ({json.dumps(variants[name], default=str)}): the flag "
        "has no `false` variant, so switched off it serves its default; write `off_variant` to "
        "say what switched off means",
        (*base, "enabled"),
        source,
    )


def _quoted(data: bytes | str, path: Path) -> bool:
    """Whether the static flag at ``path`` is written quoted (``"on"``: the string is meant),
    or the document is JSON (where every string is quoted)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if text.lstrip().startswith("{"):
        return True
    line = line_for(locate_lines(data), path)
    if line is None:
        return False
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return False
    _, _, value = lines[line - 1].partition(":")
    return value.strip()[:1] in ("'", '"')


def _ramp_warnings(flagset: FlagSet, doc: FlagDocument, now: float) -> list[LintWarning]:
    out: list[LintWarning] = []
    for ramp in ramps_of(doc, now):
        state = ramp.state
        if state.next_at is None:
            out.append(
                LintWarning(
                    "ramp-complete",
                    f"ramp complete: {ramp.variant!r} at {state.percent:g} % since its last step; write "
                    "that split (or `serve:` the variant) and remove the `ramp`",
                    ramp.path,
                    flagset.source,
                )
            )
        first = state if state.step == 0 else None
        if first is not None and first.next_percent is not None and first.percent > first.next_percent:
            out.append(
                LintWarning(
                    "ramp-drops-users",
                    f"the split gives {ramp.variant!r} {first.percent:g} %, more than the first step "
                    f"({first.next_percent:g} %): users drop out when the ramp starts",
                    ramp.path,
                    flagset.source,
                )
            )
    return out


def _after_operands(doc: FlagDocument) -> list[tuple[Path, str]]:
    """``(path, operand)`` of every ``after`` whose operand is a bare date, in document order."""
    found: list[tuple[Path, str]] = []

    def walk(node: Any, path: Path) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "after" and _is_bare_date(value):
                    found.append(((*path, key), str(value)))
                else:
                    walk(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, index))

    for when, path in _conditions(doc):
        walk(when, path)
    return found


def _conditions(doc: FlagDocument) -> Iterator[tuple[Any, tuple[str | int, ...]]]:
    """Every condition mapping of the document (each rule's ``when``, each segment) with its path."""
    for key, flag in doc.features.items():
        if isinstance(flag, FlagDefinition):
            for index, rule in enumerate(flag.rules):
                yield rule.when, ("features", key, "rules", index, "when")
    for name, segment in doc.segments.items():
        yield segment, ("segments", name)


_EQUALITY = frozenset({"eq", "ne"})
_WORDS_AS_BOOLEANS = {"true": "true", "false": "false"}
_STRUCTURAL = frozenset({"all", "any", "not", "segment"})


def never_matching(doc: FlagDocument, source: str | None = None) -> list[LintWarning]:
    """``never-matches`` warnings: conditions whose operand a context value cannot equal.

    * ``eq``/``ne`` with a list or mapping operand compare the attribute with that whole
      container, so ``country: {eq: [US]}`` never matches ``"US"`` (and ``ne`` always matches);
    * a quoted ``"true"``/``"false"`` (alone, or every item of a list) never equals the boolean
      a context sends. Skipped when the document's ``options.numeric_strings`` declares
      string-valued contexts (Unleash style), where the text is what arrives.
    """
    strings_expected = doc.options.numeric_strings
    out: list[LintWarning] = []

    def attribute(name: str, operand: Any, path: Path) -> None:
        if isinstance(operand, dict):
            for op, arg in operand.items():
                if op in _EQUALITY and isinstance(arg, list | dict):
                    kind = "list" if isinstance(arg, list) else "mapping"
                    fix = (
                        f"`{name}: {_flow(arg)}` (any of them)" if isinstance(arg, list) else "a plain value"
                    )
                    outcome = "never matches" if op == "eq" else "always matches"
                    out.append(LintWarning(
                        "never-matches",
                        f"`{op}` compares {name!r} with the whole {kind} {_flow(arg)}, so it {outcome} "
                        f"a plain value (only an equal {kind} attribute compares equal); write {fix}"
                        + (" under `not:`" if op == "ne" else ""),
                        (*path, op), source))  # fmt: skip
                elif op in {"eq", "ne", "in", "not_in"}:
                    boolean_words(name, arg, (*path, op), op)
        else:
            boolean_words(name, operand, path, None)

    def boolean_words(name: str, operand: Any, path: Path, op: str | None) -> None:
        if strings_expected:
            return
        items = operand if isinstance(operand, list) else [operand]
        if items and all(isinstance(i, str) and i.lower() in _WORDS_AS_BOOLEANS for i in items):
            meant = [_WORDS_AS_BOOLEANS[i.lower()] for i in items]
            written = meant[0] if len(meant) == 1 else f"[{', '.join(meant)}]"
            if op == "not_in":
                written = f"[{', '.join(meant)}]"
            text = ", ".join(repr(i) for i in items)
            # ne / not_in never find the text, so they always match: keep the operator.
            negated = op in {"ne", "not_in"}
            fix = f"{{{op}: {written}}}" if negated else written
            out.append(LintWarning(
                "never-matches",
                f"{text} is text, never the boolean a context sends for {name!r}"
                + (f", so `{op}` always matches" if negated else "")
                + f"; write `{name}: {fix}` (if contexts send text, `options.numeric_strings: true` says "
                "so and silences this)",
                path, source))  # fmt: skip

    def condition(node: Any, path: Path) -> None:
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key in ("all", "any") and isinstance(value, list):
                for index, item in enumerate(value):
                    condition(item, (*path, key, index))
            elif key == "not":
                condition(value, (*path, key))
            elif key not in _STRUCTURAL:
                attribute(str(key), value, (*path, key))

    for when, path in _conditions(doc):
        condition(when, path)
    return out


def _flow(value: Any) -> str:
    """A list or mapping as YAML flow text (``[US, CA]``)."""
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def _is_bare_date(value: Any) -> bool:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return True
    return isinstance(value, str) and len(value) == 10 and parse_rfc3339(value) is not None
