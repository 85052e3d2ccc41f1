"""``flagkit demo``: every flag of a file, evaluated for twenty sample users, as readable tables.

For each flag the users are grouped by outcome (variant, reason, rule), so the page answers
"who gets what, and why" at a glance. ``make demo`` runs it on examples/features.yaml; without
a FILE (and none configured) it shows the copy of that file shipped in the package, so it works
after a plain install, anywhere.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import sysconfig
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._client.flags import Flags
from .._tools.render import show
from ..evaluation import Evaluation
from ..flagset import FlagSet
from ..providers.base import Provider, Report
from ._common import OK, configured_flag_file, emit_json, load, plural

__all__ = ["EXAMPLE_FLAGS", "SAMPLE_USERS", "client_for", "command_prefix", "render_demo"]

EXAMPLE_FLAGS = Path(__file__).with_name("demo_features.yaml")
"""The example flags shipped with flagkit (a copy of the repository's examples/features.yaml),
which ``flagkit demo`` shows when no flag file is given or configured."""

WIDTH = 100

SAMPLE_USERS: tuple[dict[str, Any], ...] = tuple(
    {
        "name": name,
        "user_id": uid,
        "country": country,
        "plan": plan,
        "premium": premium,
        "app_version": app,
        "account_id": account,
        "age": age,
        "email": email,
    }
    for name, uid, country, plan, premium, app, account, age, email in [
        ("ana", "u-001", "US", "enterprise", True, "4.1.0", "acct-acme", 34, "ana@example.com"),
        ("ben", "u-002", "US", "pro", True, "4.0.2", "acct-bolt", 41, "ben@gmail.com"),
        ("chloe", "u-003", "FR", "free", False, "3.1.0", "acct-cirq", 22, "chloe@free.fr"),
        ("dev", "u-007", "IN", "pro", False, "3.2.0", "acct-dyna", 29, "dev@outlook.com"),
        ("emma", "u-010", "DE", "enterprise", True, "4.2.0", "acct-acme", 38, "emma@acme.de"),
        ("finn", "u-011", "NZ", "pro", False, "2.9.1", "acct-fern", 17, "finn@kiwi.nz"),
        ("gia", "u-012", "BR", "free", False, "4.0.0", "acct-gala", 26, "gia@mail.br"),
        ("hugo", "u-013", "NL", "pro", False, "3.5.0", "acct-haven", 52, "hugo@tulip.nl"),
        ("ines", "u-014", "ES", "free", False, "3.9.9", "acct-isla", 31, "ines@sol.es"),
        ("jack", "u-015", "AU", "enterprise", True, "4.3.0", "acct-jolt", 45, "jack@roo.au"),
        ("kai", "u-016", "JP", "pro", False, "4.0.0", "acct-koi", 27, "kai@sakura.jp"),
        ("lena", "u-017", "IT", "free", False, "3.0.0", "acct-luna", 19, "lena@roma.it"),
        ("mo", "u-018", "ZA", "pro", False, "4.1.1", "acct-mesa", 16, "mo@partner.org"),
        ("nora", "u-019", "US", "free", True, "4.0.0", "acct-nova", 63, "nora@yahoo.com"),
        ("omar", "u-020", "US", "pro", False, "3.8.0", "acct-orca", 36, "omar@orca.io"),
        ("pia", "u-042", "SE", "free", False, "4.2.1", "acct-pine", 24, "pia@fjord.se"),
        ("quinn", "u-021", "CA", "pro", True, "4.0.0", "acct-quay", 40, "quinn@maple.ca"),
        ("rosa", "u-022", "AR", "enterprise", False, "4.4.0", "acct-rio", 45, "rosa@tango.ar"),
        ("sam", "u-023", "GB", "free", False, "3.1.9", "acct-sage", 33, "sam@tea.co.uk"),
        ("tara", "u-024", "US", "enterprise", True, "4.5.0", "acct-acme", 29, "tara@example.com"),
    ]
)
"""Twenty users with varied country, plan, premium, email, app version, account and age."""

_USER_COLUMNS = ("name", "user_id", "country", "plan", "premium", "app_version", "account_id", "age", "email")
_HEADINGS = {"app_version": "app", "account_id": "account"}


class _Loaded(Provider):
    def __init__(self, flagset: FlagSet) -> None:
        super().__init__(name=f"file:{flagset.source}")
        self.flagset = flagset

    def start(self, report: Report) -> None:
        report(self.flagset)

    def after_fork(self, report: Report) -> None:
        """Nothing to restart: the flags are in memory."""


def client_for(flagset: FlagSet) -> Flags:
    """A :class:`~flagkit.Flags` client serving an already loaded flag set (no file watching)."""
    return Flags(_Loaded(flagset))


def _table(rows: Sequence[Sequence[str]], indent: str = "", strip: bool = True) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return [line.rstrip() for line in lines] if strip else lines


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _short(value: Any, limit: int = 18) -> str:
    text = show(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _flag_heading(key: str, flags: Flags) -> list[str]:
    flag = flags.get_flag(key)
    definition = flag.definition if flag is not None else None
    if definition is None:
        return [key]
    notes = [f"owner {definition.owner}"] if definition.owner else []
    if definition.expires:
        notes.append(f"expires {definition.expires.isoformat()}")
    lines = [key + (f"  ({', '.join(notes)})" if notes else "")]
    if definition.description:
        lines += textwrap.wrap(definition.description, WIDTH, initial_indent="  ", subsequent_indent="  ")
    return lines


def _group(results: Sequence[tuple[str, Evaluation[Any]]]) -> list[tuple[Evaluation[Any], list[str]]]:
    groups: dict[tuple[Any, ...], tuple[Evaluation[Any], list[str]]] = {}
    for name, result in results:
        ident = (result.variant, result.reason, result.rule)
        groups.setdefault(ident, (result, []))[1].append(name)
    return list(groups.values())


def _render_flag(key: str, flags: Flags, users: Sequence[Mapping[str, Any]]) -> list[str]:
    results = [(str(user["name"]), flags.evaluate(key, None, user)) for user in users]
    groups = _group(results)
    if len(groups) == 1:
        only = groups[0][0]
        why = f"{only.reason}" + (f", rule {only.rule!r}" if only.rule else "")
        return [f"{key}: {show(only.value)} for all {len(users)} users ({why})"]
    flag = flags.get_flag(key)
    order = list(flag.variants) if flag is not None else []
    rule_order = _rule_order(flags, key)
    groups.sort(
        key=lambda g: (
            rule_order.get(g[0].rule, len(rule_order)),
            order.index(g[0].variant) if g[0].variant in order else len(order),
        )
    )
    lines = _flag_heading(key, flags)
    values = flag.variants if flag is not None else {}
    scalar = all(len(_short(v, 99)) <= 20 for v in values.values())
    if not scalar:
        legend = "; ".join(f"{name} = {show(value)}" for name, value in values.items())
        lines += textwrap.wrap(f"values: {legend}", WIDTH, initial_indent="  ", subsequent_indent="    ")
    rows = [["variant", *(["value"] if scalar else []), "reason", "rule", ""]]
    rows += [
        [e.variant or "-", *([show(e.value)] if scalar else []), str(e.reason), e.rule or "-", ""]
        for e, _ in groups
    ]
    table = _table(rows, "  ", strip=False)
    width = len(table[0])
    lines.append(table[0] + "users")
    narrow = WIDTH - width < 40  # long rule names: list the users under the row instead
    for line, (_, names) in zip(table[1:], groups, strict=True):
        if narrow:
            lines.append(f"{line}{len(names):>2}")
            lines += textwrap.wrap(", ".join(names), WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 6)
            continue
        text = f"{len(names):>2} {', '.join(names)}"
        wrapped = textwrap.wrap(text, WIDTH - width, subsequent_indent="   ", break_on_hyphens=False)
        lines.append(line + wrapped[0])
        lines.extend(" " * width + more for more in wrapped[1:])
    return lines


def _rule_order(flags: Flags, key: str) -> dict[str | None, int]:
    flag = flags.get_flag(key)
    definition = flag.definition if flag is not None else None
    if definition is None:
        return {}
    return {rule.name or f"rules[{i}]": i for i, rule in enumerate(definition.rules)}


def render_demo(
    flagset: FlagSet,
    users: Sequence[Mapping[str, Any]] = SAMPLE_USERS,
    *,
    source: str | None = None,
    write: Callable[[str], Any] = print,
) -> None:
    """Print the demo for every flag of ``flagset`` (in file order) for ``users``."""
    label = source or flagset.source or "the flag file"
    flags_text = plural(len(flagset), "flag")
    write(f"flagkit demo: {flags_text} from {label}, evaluated for {plural(len(users), 'sample user')}")
    write("")
    header = [_HEADINGS.get(c, c) for c in _USER_COLUMNS]
    for line in _table([header, *[[_cell(u.get(c, "")) for c in _USER_COLUMNS] for u in users]], "  "):
        write(line)
    with client_for(flagset) as flags:
        previous = 0
        for key in flagset.flags:
            lines = _render_flag(key, flags, users)
            if len(lines) > 1 or previous != 1:  # one-line results (static flags...) stay together
                write("")
            for line in lines:
                write(line)
            previous = len(lines)
    write("")
    example = _explainable(flagset)
    if example is not None:
        write("Why does a user get a variant? Ask for the trace, e.g.:")
        write(f"  {command_prefix()} eval {_quoted(label)} {example} -c user_id=u-003 --explain")


def command_prefix() -> str:
    """How to run ``flagkit`` from here: ``flagkit`` when that name on PATH is this installation's
    console script, else the console script's path (``.venv/bin/flagkit`` after ``make demo``),
    else ``python -m flagkit`` with this interpreter."""
    scripts = Path(sysconfig.get_path("scripts"))
    script = scripts / ("flagkit.exe" if os.name == "nt" else "flagkit")
    on_path = shutil.which("flagkit")
    if on_path is not None and script.is_file() and Path(on_path).resolve() == script.resolve():
        return "flagkit"
    if script.is_file():
        return _quoted(_relative(script))
    return f"{_quoted(_relative(Path(sys.executable)))} -m flagkit"


def _relative(path: Path) -> str:
    """``path`` relative to the working directory when below it (``.venv/bin/flagkit``)."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _quoted(text: str) -> str:
    return text if text and all(c.isalnum() or c in "/._-+:@%," for c in text) else shlex.quote(text)


def _explainable(flagset: FlagSet) -> str | None:
    """A flag worth explaining: enabled, with rules, preferably with a split."""
    candidates = [
        (key, definition)
        for key, flag in flagset.flags.items()
        if (definition := flag.definition) is not None and definition.enabled and definition.rules
    ]
    for key, definition in candidates:
        if any(isinstance(rule.serve, dict) for rule in definition.rules):
            return key
    return candidates[0][0] if candidates else None


def run_demo(args: argparse.Namespace) -> int:
    path = args.file or configured_flag_file() or _relative(EXAMPLE_FLAGS)
    flagset = load(path, args.json)
    if args.json:
        with client_for(flagset) as flags:
            flags_out = {
                key: [
                    {"user": user["name"], **flags.evaluate(key, None, user).as_dict()}
                    for user in SAMPLE_USERS
                ]
                for key in flagset.flags
            }
        emit_json({"file": path, "users": list(SAMPLE_USERS), "flags": flags_out})
        return OK
    render_demo(flagset, source=path)
    return OK
