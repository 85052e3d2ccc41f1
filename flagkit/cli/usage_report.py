"""``--usage FILE``: the flags not evaluated for N days, from exported usage files.

Static scanning says whether code *mentions* a flag; a usage file (``Flags.export_usage``)
says whether production still *evaluates* it. ``flagkit scan --usage FILE --unused-days N``
and ``flagkit validate --usage FILE --stale-days N`` list the defined flags whose last
evaluation is older than N days, or that were never evaluated while the files' recording
covered at least N days. Several files (one per process) are merged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from .._observe.usage import merge_usage, read_usage
from ._common import USAGE, Exit, plural, positive

__all__ = ["add_usage_arguments", "not_evaluated", "print_not_evaluated", "usage_report"]

DEFAULT_DAYS = 30
DAY = 86_400.0


def add_usage_arguments(parser: argparse.ArgumentParser, days_option: str) -> None:
    """Add ``--usage FILE`` (repeatable) and ``days_option`` (e.g. ``--unused-days``)."""
    parser.add_argument(
        "--usage",
        action="append",
        metavar="FILE",
        help="usage file from Flags.export_usage (repeat for several processes)",
    )
    other = "--stale-days" if days_option == "--unused-days" else "--unused-days"
    parser.add_argument(
        days_option,
        other,  # both commands take both spellings: one habit works everywhere
        dest="usage_days",
        type=positive,  # refused before any file is read or reported on
        metavar="N",
        help=f"with --usage: list flags not evaluated for N days (default {DEFAULT_DAYS})",
    )


def check_usage_arguments(args: argparse.Namespace) -> None:
    """Refuse a days option without ``--usage`` before the command reads or prints anything.

    Raises:
        Exit: ``USAGE``.
    """
    if getattr(args, "usage_days", None) is not None and not getattr(args, "usage", None):
        raise Exit(USAGE, "the days option needs --usage FILE")


def not_evaluated(keys: Iterable[str], usage: dict[str, Any], days: int, now: float) -> list[dict[str, Any]]:
    """Entries ``{key, last_seen, days}`` for the keys not evaluated within ``days`` of ``now``.

    A key never evaluated is listed only when the recording (``since``) covers the period;
    ``last_seen`` and ``days`` are then ``None``.
    """
    cutoff = now - days * DAY
    since = usage.get("since")
    covered = isinstance(since, int | float) and since <= cutoff
    out: list[dict[str, Any]] = []
    for key in sorted(set(keys)):
        seen = usage["flags"].get(key, {}).get("last_seen")
        if isinstance(seen, int | float):
            if seen < cutoff:
                iso = dt.datetime.fromtimestamp(seen, dt.UTC).isoformat(timespec="seconds")
                out.append({"key": key, "last_seen": iso, "days": int((now - seen) // DAY)})
        elif covered:
            out.append({"key": key, "last_seen": None, "days": None})
    return out


def usage_report(args: argparse.Namespace, keys: Iterable[str]) -> dict[str, Any] | None:
    """The report for ``--usage`` (``None`` without it): ``{days, files, since, flags: [...]}``.

    Raises:
        Exit: ``USAGE`` for unreadable files or a days option without ``--usage``.
    """
    paths: list[str] | None = args.usage
    days: int | None = args.usage_days
    if not paths:
        if days is not None:
            raise Exit(USAGE, "the days option needs --usage FILE")
        return None
    if days is not None and days < 1:
        raise Exit(USAGE, "the number of days must be at least 1")
    documents = []
    for path in paths:
        try:
            documents.append(read_usage(path))
        except (OSError, ValueError) as exc:
            raise Exit(USAGE, f"{path}: cannot read the usage file: {exc}") from None
    usage = merge_usage(documents)
    now = _now(args)
    days = DEFAULT_DAYS if days is None else days
    since = usage.get("since")
    return {
        "days": days,
        "files": paths,
        "since": dt.datetime.fromtimestamp(since, dt.UTC).isoformat(timespec="seconds") if since else None,
        "flags": not_evaluated(keys, usage, days, now),
    }


def _now(args: argparse.Namespace) -> float:
    """The instant staleness is judged at: ``--now`` (the command's clock, also for ramps and
    ``now`` conditions), else ``--today`` at midnight UTC, else the machine's clock."""
    at = getattr(args, "now", None)
    if isinstance(at, int | float):
        return float(at)
    today: dt.date | None = getattr(args, "today", None)
    if today is not None:
        return dt.datetime.combine(today, dt.time(), dt.UTC).timestamp()
    return time.time()


def print_not_evaluated(report: dict[str, Any]) -> None:
    """The human-readable section for a :func:`usage_report`."""
    flags = report["flags"]
    print(f"\nNot evaluated for {plural(report['days'], 'day')} (usage recorded since {report['since']}):")
    if not flags:
        print("  none")
    for entry in flags:
        when = (
            f"last {entry['last_seen']}, {plural(entry['days'], 'day')} ago"
            if entry["last_seen"]
            else "never"
        )
        print(f"  {entry['key']}  ({when})")
