"""Find flag keys referenced from code and templates: the flag-debt report.

Python files are parsed with :mod:`ast` (never imported or run). A reference is a call whose
name is one of :data:`KEY_CALLS` with the key as a string literal, as the first argument or
``key=`` (``flags.is_enabled("x")``, ``flagkit.get_value("x", 0)``, ``@flags.when("x")``,
``@flags.variants("x")``...), a keyword or dict key of :data:`OVERRIDE_CALLS`
(``override_flags(x=True)``, ``override_flags({"x": True})``), or the pytest fixture
``flagkit_overrides.set("x", ...)`` / ``.update(x=...)`` (see :data:`FIXTURE_NAMES`). Keys that
are not literals are counted as *dynamic* references, which the report cannot check.

Templates (:data:`TEMPLATE_SUFFIXES`) are searched with regular expressions for Django's
``{% flag "x" %}``, ``{% flag_value "x" ... %}``, ``{% flag_variant "x" %}`` and
``"x"|flag_enabled``, and Jinja's ``flag_enabled("x")``, ``flag_value("x", ...)`` and
``flag_variant("x")``.

A project's own wrappers of those calls (a ``require_flag("x")`` FastAPI dependency, a
``feature("x")`` helper) are named with ``--key-call NAME`` or ``key_calls = [...]`` in
``[tool.flagkit]`` of pyproject.toml: their first argument (or ``key=``) counts as a reference too.

A line containing ``flagkit: ignore`` is skipped.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import difflib
import operator
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._engine.compiler import requirements
from ..document.schema import FlagDefinition
from ..flagset import FlagSet
from ._common import OK, PROBLEMS, USAGE, Exit, emit_json, load, plural, project_settings
from .usage_report import print_not_evaluated, usage_report

__all__ = [
    "KEY_CALLS",
    "OVERRIDE_CALLS",
    "SKIP_DIRS",
    "TEMPLATE_SUFFIXES",
    "DebtReport",
    "Reference",
    "ScanResult",
    "debt_report",
    "scan_paths",
    "scan_python",
    "scan_template",
]

KEY_CALLS = frozenset(
    {
        "is_enabled",
        "get_value",
        "variant",
        "evaluate",
        "when",
        "variants",
        "get_flag",
        "flag_enabled",
        "flag_required",
    }
)
"""Functions and methods whose first argument (or ``key=``) is a flag key."""
OVERRIDE_CALLS = frozenset({"override_flags"})
"""Functions whose keyword names (and dict-literal keys) are flag keys."""
FIXTURE_NAMES = frozenset({"flagkit_overrides"})
"""The pytest fixture. ``.set("x", v)`` and ``.update(x=v)`` count on any receiver whose name ends
in ``overrides`` (``flagkit_overrides``, a project's ``flag_overrides`` wrapper), also after
``.use(client)``."""
TEMPLATE_SUFFIXES = frozenset({".html", ".htm", ".txt", ".jinja", ".jinja2", ".j2", ".djhtml"})
"""Files searched as Django/Jinja templates."""
SKIP_DIRS = frozenset(
    {"node_modules", "__pycache__", "site-packages", "build", "dist", "venv", "env", "htmlcov"}
)
"""Directory names never descended into (hidden directories, like ``.git`` or ``.venv``, neither)."""

_IGNORE = "flagkit: ignore"
_TEMPLATE_PATTERNS = (
    # Django: {% flag "x" %} ... {% endflag %}, {% flag_value "x" ... %}
    re.compile(r"""\{%-?\s*(?P<how>flag|flag_value|flag_variant)\s+(?P<q>["'])(?P<key>[^"'\n]+)(?P=q)"""),
    # Jinja: {% if flag_enabled("x") %}, {{ flag_value("x", "blue") }}
    re.compile(r"""\b(?P<how>flag_enabled|flag_value|flag_variant)\(\s*(?P<q>["'])(?P<key>[^"'\n]+)(?P=q)"""),
    # Django filter: {% if "x"|flag_enabled %}
    re.compile(r"""(?P<q>["'])(?P<key>[^"'\n]+)(?P=q)\s*\|\s*(?P<how>flag_enabled)\b"""),
)


@dataclass(frozen=True, slots=True)
class Reference:
    """One place a flag key is used.

    Attributes:
        key: The flag key, or ``None`` for a dynamic (non-literal) key.
        file: The file, as given or found.
        line: 1-based line number.
        how: What referenced it, e.g. ``is_enabled()``, ``override_flags``, ``{% flag %}``.
    """

    key: str | None
    file: str
    line: int
    how: str

    @property
    def location(self) -> str:
        """``file:line``."""
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class ScanResult:
    """Everything a scan found.

    Attributes:
        references: Literal flag keys, in file order.
        dynamic: Calls whose key is not a literal (not checked against the flag file).
        errors: ``(file, message)`` for files that could not be read or parsed.
        files: Number of files scanned.
    """

    references: list[Reference] = field(default_factory=list)
    dynamic: list[Reference] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    files: int = 0


def _call_name(func: ast.expr) -> tuple[str | None, str | None]:
    """``(name, receiver)`` of a call: ``flags.is_enabled`` → ``("is_enabled", "flags")``.

    ``x.use(client).set`` has the receiver ``x``.
    """
    if isinstance(func, ast.Name):
        return func.id, None
    if isinstance(func, ast.Attribute):
        receiver = func.value
        if (
            isinstance(receiver, ast.Call)
            and isinstance(receiver.func, ast.Attribute)
            and receiver.func.attr == "use"
        ):
            receiver = receiver.func.value
        if isinstance(receiver, ast.Name):
            return func.attr, receiver.id
        if isinstance(receiver, ast.Attribute):
            return func.attr, receiver.attr
        return func.attr, None
    return None, None


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Visitor(ast.NodeVisitor):
    def __init__(self, filename: str, ignored: set[int], key_calls: frozenset[str] = KEY_CALLS) -> None:
        self.filename = filename
        self.key_calls = key_calls
        self.ignored = ignored
        self.references: list[Reference] = []
        self.dynamic: list[Reference] = []

    def add(self, key: str | None, node: ast.AST, how: str) -> None:
        line = getattr(node, "lineno", 0)
        if line in self.ignored:
            return
        found = self.references if key is not None else self.dynamic
        found.append(Reference(key, self.filename, line, how))

    def key_argument(self, node: ast.Call, how: str) -> None:
        arg: ast.expr | None = node.args[0] if node.args else None
        if arg is None:
            arg = next((kw.value for kw in node.keywords if kw.arg == "key"), None)
        if arg is None or isinstance(arg, ast.Starred):
            return
        self.add(_literal(arg), arg, how)

    def mapping(self, node: ast.Call, how: str, args: Iterable[ast.expr]) -> None:
        for kw in node.keywords:
            if kw.arg is None:
                if isinstance(kw.value, ast.Dict):
                    self.dict_keys(kw.value, how)
            else:
                self.add(kw.arg, kw.value, how)
        for arg in args:
            if isinstance(arg, ast.Dict):
                self.dict_keys(arg, how)

    def dict_keys(self, node: ast.Dict, how: str) -> None:
        for key in node.keys:
            if key is not None:
                self.add(_literal(key), key, how)

    def visit_Call(self, node: ast.Call) -> None:
        name, receiver = _call_name(node.func)
        if name in self.key_calls:
            self.key_argument(node, f"{name}()")
        elif name in OVERRIDE_CALLS or name in FIXTURE_NAMES:
            self.mapping(node, str(name), node.args)
        elif receiver is not None and receiver.endswith("overrides") and name == "set":
            self.key_argument(node, f"{receiver}.set()")
        elif receiver is not None and receiver.endswith("overrides") and name == "update":
            self.mapping(node, f"{receiver}.update()", node.args)
        self.generic_visit(node)


def _ignored_lines(text: str) -> set[int]:
    if _IGNORE not in text:
        return set()
    return {n for n, line in enumerate(text.splitlines(), 1) if _IGNORE in line}


def scan_python(
    text: str, filename: str = "<string>", key_calls: Iterable[str] = ()
) -> tuple[list[Reference], list[Reference]]:
    """References in Python source: ``(literal, dynamic)``; ``key_calls`` are the project's
    wrappers whose first argument is a flag key, besides :data:`KEY_CALLS`.

    Raises:
        SyntaxError: The source does not parse.
    """
    with warnings.catch_warnings():  # invalid escapes etc. in scanned code are not our warnings
        warnings.simplefilter("ignore")
        tree = ast.parse(text, filename=filename)
    visitor = _Visitor(filename, _ignored_lines(text), KEY_CALLS | frozenset(key_calls))
    visitor.visit(tree)
    by_line = operator.attrgetter("line")
    return sorted(visitor.references, key=by_line), sorted(visitor.dynamic, key=by_line)


def scan_template(text: str, filename: str = "<string>") -> list[Reference]:
    """References in a Django or Jinja template."""
    ignored = _ignored_lines(text)
    found: list[tuple[int, Reference]] = []
    for pattern in _TEMPLATE_PATTERNS:
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            if line in ignored:
                continue
            how = match["how"]
            if match.group(0).startswith("{%"):
                how = f"{{% {how} %}}"
            elif match.group(0).startswith(("'", '"')):
                how = f"|{how}"
            else:
                how = f"{how}()"
            found.append((match.start(), Reference(match["key"], filename, line, how)))
    return [ref for _, ref in sorted(found, key=lambda item: item[0])]


def _walk(paths: Sequence[str | os.PathLike[str]]) -> Iterator[Path]:
    for root in paths:
        path = Path(root)
        if path.is_file():
            yield path
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"no such file or directory: {path}")
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
            for name in sorted(filenames):
                candidate = Path(dirpath, name)
                if candidate.suffix in (".py", ".pyi") or candidate.suffix in TEMPLATE_SUFFIXES:
                    yield candidate


def scan_paths(paths: Sequence[str | os.PathLike[str]], key_calls: Iterable[str] = ()) -> ScanResult:
    """Scan files and directories (recursively) for flag references (``key_calls``: the
    project's wrappers of the flag calls, as for :func:`scan_python`).

    Files given explicitly are scanned whatever their suffix (``.py``/``.pyi`` as Python, the
    rest as templates); in directories only Python files and :data:`TEMPLATE_SUFFIXES` are.

    Raises:
        FileNotFoundError: A path does not exist.
    """
    result = ScanResult()
    wrappers = frozenset(key_calls)
    for path in _walk(paths):
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            result.errors.append((name, exc.strerror or str(exc)))
            continue
        result.files += 1
        if path.suffix in (".py", ".pyi"):
            try:
                refs, dynamic = scan_python(text, name, wrappers)
            except (SyntaxError, ValueError) as exc:
                line = getattr(exc, "lineno", None)
                result.errors.append((f"{name}:{line}" if line else name, f"cannot parse: {exc.args[0]}"))
                continue
            result.references.extend(refs)
            result.dynamic.extend(dynamic)
        else:
            result.references.extend(scan_template(text, name))
    return result


@dataclass(slots=True)
class DebtReport:
    """Code references checked against the flag definitions.

    Attributes:
        undefined: Keys used in code but not defined (likely typos), with where.
        suggestions: For undefined keys, the closest defined key.
        unused: Defined keys never referenced from code (nor required by another flag).
        expired: Keys past their ``expires`` date still referenced, with the date and where.
        used: Number of distinct defined keys referenced.
    """

    undefined: dict[str, list[Reference]] = field(default_factory=dict)
    suggestions: dict[str, str] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)
    expired: dict[str, tuple[dt.date, list[Reference]]] = field(default_factory=dict)
    used: int = 0

    @property
    def problems(self) -> bool:
        """True when keys are undefined or expired flags are still used."""
        return bool(self.undefined or self.expired)


def debt_report(scan: ScanResult, flagsets: Sequence[FlagSet], *, today: dt.date | None = None) -> DebtReport:
    """Compare a scan with the flags defined in ``flagsets``.

    Args:
        scan: What :func:`scan_paths` found.
        flagsets: The flag files (a key defined in any of them counts as defined).
        today: The date ``expires`` is compared with (defaults to today).
    """
    today = today or dt.date.today()
    defined: dict[str, FlagDefinition | None] = {}
    required: set[str] = set()
    for flagset in flagsets:
        for key, flag in flagset.flags.items():
            definition = flag.definition  # re-derived on each access: read it once
            defined.setdefault(key, definition)
            if definition is not None:
                required.update(key for key, _ in requirements(definition))
    by_key: dict[str, list[Reference]] = {}
    for ref in scan.references:
        if ref.key is not None:
            by_key.setdefault(ref.key, []).append(ref)
    report = DebtReport()
    for key, refs in by_key.items():
        if key not in defined:
            report.undefined[key] = refs
            close = difflib.get_close_matches(key, defined, n=1, cutoff=0.75)
            if close:
                report.suggestions[key] = close[0]
            continue
        report.used += 1
        definition = defined[key]
        if definition is not None and definition.expires is not None and definition.expires < today:
            report.expired[key] = (definition.expires, refs)
    report.unused = [key for key in defined if key not in by_key and key not in required]
    return report


def key_calls_of(args: argparse.Namespace) -> list[str]:
    """``--key-call`` names, plus ``key_calls`` of ``[tool.flagkit]`` in pyproject.toml.

    Raises:
        Exit: ``USAGE`` when ``key_calls`` is not a list of names.
    """
    names = list(getattr(args, "key_call", None) or [])
    found = project_settings()
    if found is not None and "key_calls" in found[1]:
        configured = found[1]["key_calls"]
        if not isinstance(configured, list) or not all(
            isinstance(n, str) and n.isidentifier() for n in configured
        ):
            where = os.path.relpath(found[0])
            raise Exit(USAGE, f"{where}: [tool.flagkit] key_calls must be a list of function names")
        names += configured
    for name in names:
        if not name.isidentifier():
            raise Exit(USAGE, f"--key-call {name!r}: expected a function or method name, e.g. require_flag")
    return names


def run_scan(args: argparse.Namespace) -> int:
    flagsets = [load(path, args.json) for path in args.flags]
    try:
        result = scan_paths(args.paths, key_calls_of(args))
    except FileNotFoundError as exc:
        raise Exit(USAGE, str(exc)) from None
    report = debt_report(result, flagsets, today=args.today)
    definitions = {k: f.definition for fs in flagsets for k, f in fs.flags.items()}
    usage = usage_report(args, definitions)
    failed = report.problems or (args.strict and (bool(report.unused) or bool(usage and usage["flags"])))
    if args.json:
        emit_json(
            {
                "files": result.files,
                "references": [{"key": r.key, **_ref(r)} for r in result.references],
                "reference_count": len(result.references),
                "flags_used": report.used,
                "undefined": [
                    {
                        "key": key,
                        "suggestion": report.suggestions.get(key),
                        "references": [_ref(r) for r in refs],
                    }
                    for key, refs in report.undefined.items()
                ],
                "expired": [
                    {"key": key, "expires": date.isoformat(), "references": [_ref(r) for r in refs]}
                    for key, (date, refs) in report.expired.items()
                ],
                "unused": [
                    {"key": key, "owner": getattr(definitions.get(key), "owner", None)}
                    for key in report.unused
                ],
                "dynamic": [_ref(r) for r in result.dynamic],
                "errors": [{"file": f, "message": m} for f, m in result.errors],
                "strict": args.strict,
                **({"not_evaluated": usage} if usage is not None else {}),
            }
        )
        return PROBLEMS if failed else OK
    print(
        f"Scanned {plural(result.files, 'file')}: {plural(len(result.references), 'reference')} "
        f"to {plural(report.used, 'defined flag')}"
    )
    if report.undefined:
        print("\nUsed in code but not defined (typos?):")
        for key, refs in report.undefined.items():
            hint = f"  (did you mean {report.suggestions[key]}?)" if key in report.suggestions else ""
            print(f"  {key}{hint}")
            _print_refs(refs)
    if report.expired:
        print("\nExpired but still used (remove the flag and its code paths):")
        for key, (date, refs) in report.expired.items():
            print(f"  {key}  (expired {date.isoformat()})")
            _print_refs(refs)
    if report.unused:
        print("\nDefined but never used in the scanned code (stale?):")
        for key in report.unused:
            definition = definitions.get(key)
            owner = f"  (owner {definition.owner})" if definition is not None and definition.owner else ""
            print(f"  {key}{owner}")
    if result.dynamic:
        print(f"\nDynamic keys, not checked ({len(result.dynamic)}):")
        _print_refs(result.dynamic)
    if result.errors:
        print(f"\nSkipped {plural(len(result.errors), 'file')}:")
        for where, message in result.errors:
            print(f"    {where}: {message}")
    if usage is not None:
        print_not_evaluated(usage)
    if not (report.undefined or report.expired or report.unused or (usage and usage["flags"])):
        print("No flag debt found.")
    return PROBLEMS if failed else OK


def _ref(ref: Any) -> dict[str, Any]:
    return {"file": ref.file, "line": ref.line, "how": ref.how}


def _print_refs(refs: Sequence[Any], limit: int = 10) -> None:
    for ref in refs[:limit]:
        print(f"    {ref.location}  {ref.how}")
    if len(refs) > limit:
        print(f"    ... and {len(refs) - limit} more")
