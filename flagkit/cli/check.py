"""Check a flag file completely: every error in one run, then the lint warnings.

Loading stops at the first failing stage: a document with schema errors (unknown fields,
wrong types) is not compiled, so its semantic errors (unknown variants, bad weights or
operands) would only show up after a second edit. For ``flagkit validate`` this module runs
the compiler as well, on a copy of the document where each flag with schema errors is replaced
by an empty definition (so ``requires`` still resolve), and reports both sets of issues.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from ..compiler import compile_document
from ..errors import ConfigError, ConfigIssue
from ..flagset import FlagSet
from ..loading import detect_format, line_for, locate_lines, read_document
from ..schema import validate_document
from .lint import LintWarning, lint

__all__ = ["CheckResult", "check_document"]


@dataclass(slots=True)
class CheckResult:
    """What :func:`check_document` found.

    Attributes:
        flagset: The loaded flags, or ``None`` when the document has errors.
        errors: Every error, each with file, line and field path, in line order.
        warnings: Lint warnings (only for a valid document).
    """

    flagset: FlagSet | None
    errors: list[ConfigIssue] = field(default_factory=list)
    warnings: list[LintWarning] = field(default_factory=list)


def check_document(
    data: bytes | str, source: str, *, today: dt.date | None = None, warnings: bool = True
) -> CheckResult:
    """Load ``data`` and report every error, or the lint warnings when it is valid.

    Args:
        data: The document.
        source: Its file name (also picks YAML or JSON).
        today: The date ``expires`` is compared with (defaults to today).
        warnings: Run the lint checks on a valid document.
    """
    try:
        flagset = FlagSet.from_bytes(data, source=source)
    except ConfigError as exc:
        return CheckResult(None, _more_errors(data, source, list(exc.issues)))
    return CheckResult(flagset, [], lint(flagset, today=today, data=data) if warnings else [])


def _more_errors(data: bytes | str, source: str, issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """Add the compiler's errors for the flags that passed schema validation."""
    bad_flags = {issue.flag for issue in issues}
    if None in bad_flags:  # a document-level problem (bad YAML, not a mapping...): nothing more to learn
        return issues
    try:
        doc: Any = read_document(data, source=source, fmt=detect_format(source))
    except ConfigError:  # pragma: no cover - the document parsed a moment ago
        return issues
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, dict):  # pragma: no cover - schema errors would be document-level
        return issues
    pruned = {**doc, "features": {k: ({} if k in bad_flags else v) for k, v in features.items()}}
    validated = validate_document(pruned, source)
    if isinstance(validated, list):
        return issues
    _flags, compile_issues, _used = compile_document(validated, source)
    seen = {issue.path for issue in issues}
    extra = [issue for issue in compile_issues if issue.path not in seen and issue.flag not in bad_flags]
    if not extra:
        return issues
    marks = locate_lines(data)
    extra = [
        issue if issue.line is not None else replace(issue, line=line_for(marks, issue.path))
        for issue in extra
    ]
    merged = issues + extra
    merged.sort(key=lambda issue: issue.line if issue.line is not None else 0)
    return merged
