"""Check a flag file completely: every error in one run, then the lint warnings.

Loading itself reports every problem (schema and compiler alike, see
:meth:`flagkit.FlagSet.from_bytes`); this adds the lint warnings for a valid document.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .._engine.ramps import Clock
from ..document.schema import FlagDocument
from ..errors import ConfigError, ConfigIssue
from ..flagset import FlagSet
from .lint import LintWarning, lint

__all__ = ["CheckResult", "check_document"]


@dataclass(slots=True)
class CheckResult:
    """What :func:`check_document` found.

    Attributes:
        flagset: The loaded flags, or ``None`` when the document has errors.
        errors: Every error, each with file, line and field path, in line order.
        warnings: Lint warnings (only for a valid document).
        document: The validated document the warnings were found in (only with warnings):
            ``flagset.document`` is re-derived on demand and cached while this holds it.
    """

    flagset: FlagSet | None
    errors: list[ConfigIssue] = field(default_factory=list)
    warnings: list[LintWarning] = field(default_factory=list)
    document: FlagDocument | None = None


def check_document(
    data: bytes | str,
    source: str,
    *,
    today: dt.date | None = None,
    warnings: bool = True,
    clock: Clock | None = None,
) -> CheckResult:
    """Load ``data`` and report every error, or the lint warnings when it is valid.

    Args:
        data: The document.
        source: Its file name (also picks YAML or JSON).
        today: The date ``expires`` is compared with (defaults to today).
        warnings: Run the lint checks on a valid document.
        clock: The time ramps are compiled and checked with (default: the real clock).
    """
    try:
        flagset = FlagSet.from_bytes(data, source=source, clock=clock)
    except ConfigError as exc:
        return CheckResult(None, list(exc.issues))
    if not warnings:
        return CheckResult(flagset)
    document = flagset.document  # held while the result lives: lint and validate share it
    now = None if clock is None else clock()
    return CheckResult(flagset, [], lint(flagset, today=today, data=data, now=now), document)
