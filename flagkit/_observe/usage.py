"""Usage counters: evaluations per (flag, variant, reason) and when each flag was last evaluated.

Enabled per client (``Flags(..., usage=True)`` or ``flags.enable_usage()``). The client then
calls the counter :meth:`UsageRecorder.counter` made for each flag with what the caller got,
after its type check (and its snapshot's resolvers count evaluations as a prerequisite or by
``all_values``): it appends the resolution tuple the compiler built at load time to the
flag's tally, a list (no allocation, no clock read, no lock). Disabled, nothing here runs.

Each count is filed under the variant served, ``code_default`` when the flag served the
caller's default (the file's reserved word, so no variant has that name), or ``""`` (no
variant) with reason ``ERROR`` when the caller got its default because the evaluation failed:
the default has another type than the flag's value (``TYPE_MISMATCH``), or the context was
not a mapping.

With usage counting as the client's only observer (no hook, no exposure), the evaluation
methods take a faster lane: they append the resolution to the flag's tally
(:meth:`UsageRecorder.tally`, a plain list) — one C-level call — and the recorder's thread
folds the tallies into the counts every :data:`FOLD_INTERVAL` seconds (and :meth:`snapshot`
first): the counting itself (a C-level ``Counter`` over the tally) happens off the request
path.

"Last evaluated" is coarse on purpose: reading the clock per evaluation would cost more than
the count. :meth:`UsageRecorder.stamp` compares each flag's total with the previous one and
stamps the flags that moved with the current time; a daemon thread calls it every
``interval`` seconds, and :meth:`snapshot` / :meth:`export` call it first. So ``last_seen`` is
exact to ``interval``.

Counts are exact under CPython's GIL, across reloads and while :meth:`UsageRecorder.snapshot`
reads concurrently: an append is one C call (a ``dict`` increment keyed by a resolution is
not: hashing its ``Reason`` runs Python code, where another thread can interleave), and the
tallies belong to the flag key for the recorder's life, not to a snapshot, so an evaluation
still running on a replaced snapshot counts into the same list.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._engine.compiler import CompiledFlag, Resolution, Resolver
from .._files import atomic_write
from .._workers import Worker
from ..evaluation import CODE_DEFAULT_NAME

__all__ = ["NO_VARIANT", "USAGE_FORMAT", "UsageRecorder", "merge_usage", "read_usage"]

logger = logging.getLogger("flagkit")

USAGE_FORMAT = "flagkit-usage/1"
"""The ``format`` field of a usage file; readers refuse other values."""

NO_VARIANT = ""
"""The variant under which usage files an evaluation that failed (reason ``ERROR``)."""

Count = Callable[[Mapping[str, Any], Resolution], None]
"""A flag's counter: ``count(context, resolution)`` (the context is not read)."""

FOLD_INTERVAL = 1.0
"""Seconds between folds of the tally into the counts (bounds the tally's length)."""

TALLY_LIMIT = 100_000
"""Longest a tally grows on the long path before the evaluation appending to it folds it."""


class UsageRecorder:
    """Counts evaluations of one client's flags.

    Args:
        interval: Seconds between last-seen stamps (the resolution of ``last_seen``).
        clock: Wall-clock time source (``time.time``); injectable for tests.
    """

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self.clock = clock
        self.since = clock()
        self._lock = threading.Lock()
        self._export_lock = threading.Lock()
        self._folded: dict[str, dict[tuple[str, str], int]] = {}
        self._totals: dict[str, int] = {}
        self._last_seen: dict[str, float] = {}
        self._exported: dict[tuple[str, str, str], int] = {}
        self._worker: Worker[UsageRecorder] | None = None
        self._next_stamp = 0.0
        self._tallies: dict[str, list[Any]] = {}

    # --- hot path -----------------------------------------------------------------------

    def counter(self, key: str, flag: CompiledFlag, resolve: Resolver) -> Count:
        """The counter of ``flag`` (called at publish time): appends each resolution to the
        flag's tally (:meth:`tally`), one list per key for the recorder's life.

        So the counts belong to the key, not to the snapshot: an evaluation still running on a
        replaced snapshot (a reload, an override) appends to the same list and is folded like
        any other (``flag`` and ``resolve`` are not needed; kept for the callers' signature).
        A tally longer than :data:`TALLY_LIMIT` (no ticker folding it, e.g. after ``close()``)
        is folded by the evaluation that finds it so.
        """
        tally = self.tally(key)
        append = tally.append

        def count(ctx: Mapping[str, Any], res: Resolution) -> None:
            append(res)  # one C call: atomic under the GIL, nothing lost between read and write
            if len(tally) > TALLY_LIMIT:
                with self._lock:
                    self._drain()

        return count

    # --- reading ------------------------------------------------------------------------

    def tally(self, key: str) -> list[Any]:
        """The fast lane's list for ``key``: the evaluation methods append each resolution the
        caller got (no allocation, no lock); :meth:`_drain` folds it. One list per key for the
        recorder's life, so a reload keeps appending to it."""
        found = self._tallies.get(key)
        if found is None:
            found = self._tallies.setdefault(key, [])
        return found

    def _drain(self) -> None:
        """Fold the tallies into the counts. Caller holds the lock.

        Only the first ``n`` items of a tally are taken and deleted (two list operations, each
        atomic): evaluations appending meanwhile land after them and wait for the next fold.
        """
        for key, tally in list(self._tallies.items()):
            n = len(tally)
            if not n:
                continue
            items = tally[:n]
            del tally[:n]
            try:
                counted = Counter(items)  # in C: resolutions hash by value
            except TypeError:  # an object or list value (fresh copies, unhashable): by names
                counted = Counter(res[1:] for res in items)
            _add(self._folded.setdefault(key, {}), counted)

    def _fold(self) -> dict[str, dict[tuple[str, str], int]]:
        """Per flag, counts by (variant, reason). Caller holds the lock."""
        self._drain()
        return {key: dict(by) for key, by in self._folded.items()}

    def stamp(self) -> None:
        """Stamp ``last_seen`` with the current time for every flag evaluated since the last stamp."""
        with self._lock:
            self._stamp(self._fold())

    def _stamp(self, counts: dict[str, dict[tuple[str, str], int]]) -> None:
        now = self.clock()
        for key, by in counts.items():
            total = sum(by.values())
            if total != self._totals.get(key, 0):
                self._totals[key] = total
                self._last_seen[key] = now

    def snapshot(self, keys: list[str] | None = None) -> dict[str, Any]:
        """JSON-safe usage: ``{"format", "since", "now", "flags": {key: {...}}}``.

        Each flag has ``evaluations`` (total), ``last_seen`` (Unix time or ``None``) and
        ``variants``: ``{variant: {reason: count}}``, the variant being ``code_default`` when
        the flag served the caller's default and :data:`NO_VARIANT` (``""``, reason ``ERROR``)
        when the evaluation failed. ``keys`` adds flags never evaluated.
        """
        with self._lock:
            counts = self._fold()
            self._stamp(counts)
            now = self.clock()
            flags: dict[str, Any] = {}
            for key in sorted(set(counts) | set(keys or ())):
                variants: dict[str, dict[str, int]] = {}
                for (variant, reason), n in sorted(counts.get(key, {}).items()):
                    variants.setdefault(variant, {})[reason] = n
                flags[key] = {
                    "evaluations": self._totals.get(key, 0),
                    "last_seen": self._last_seen.get(key),
                    "variants": variants,
                }
            return {"format": USAGE_FORMAT, "since": self.since, "now": now, "flags": flags}

    def export(self, path: str | os.PathLike[str], keys: list[str] | None = None) -> None:
        """Write the usage to ``path`` (JSON, atomic replace), merged with what the file holds.

        ``last_seen`` takes the later of the file's and ours; counts add what this client
        counted since its previous export, so exporting repeatedly (or from a restarted
        process) never double counts. Use one file per process when several export at once.
        """
        target = Path(path)
        with self._export_lock:  # one export at a time: an older snapshot never writes after a newer one
            self._export(target, keys)

    def _export(self, target: Path, keys: list[str] | None) -> None:
        current = self.snapshot(keys)
        with self._lock:
            delta: dict[str, Any] = {"format": USAGE_FORMAT, "since": current["since"], "now": current["now"]}
            flags: dict[str, Any] = {}
            exported = dict(self._exported)
            for key, entry in current["flags"].items():
                variants: dict[str, dict[str, int]] = {}
                for variant, reasons in entry["variants"].items():
                    for reason, n in reasons.items():
                        ident = (key, variant, reason)
                        new = n - self._exported.get(ident, 0)
                        exported[ident] = n
                        if new:
                            variants.setdefault(variant, {})[reason] = new
                flags[key] = {"last_seen": entry["last_seen"], "variants": variants}
            delta["flags"] = flags
            try:
                previous = read_usage(target) if target.exists() else None
            except (OSError, ValueError) as exc:
                logger.warning("flagkit: usage file %s unreadable (%s); writing a new one", target, exc)
                previous = None
            merged = merge_usage([previous, delta] if previous is not None else [delta])
            atomic_write(
                target, (json.dumps(merged, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()
            )
            self._exported = exported

    # --- ticker -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the daemon thread (a :class:`~flagkit._workers.Worker` owned weakly by this
        recorder) that folds the tallies and stamps ``last_seen`` every ``interval`` seconds."""
        worker = self._worker
        if worker is None or worker.stopping.is_set():
            worker = self._worker = Worker("flagkit-usage", UsageRecorder._tick, self)
            self._next_stamp = time.monotonic() + self.interval
        worker.start()

    def _tick(self) -> float:
        if time.monotonic() >= self._next_stamp:
            self._next_stamp = time.monotonic() + self.interval
            self.stamp()
        else:
            with self._lock:
                self._drain()
        return min(FOLD_INTERVAL, self.interval)

    @property
    def running(self) -> bool:
        """True while the ticker runs (it folds the fast lane's tallies)."""
        worker = self._worker
        return worker is not None and worker.started and not worker.stopping.is_set()

    def stop(self) -> None:
        """Stop the ticker (idempotent); stamps once more."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop(timeout=5)
        self.stamp()

    def after_fork(self) -> None:
        """In a fork child: fresh lock, counts start from zero (the parent reports its own).

        The ticker is not running here (see :mod:`flagkit._workers`); the client starts it
        again at its first use in the child.
        """
        self._lock = threading.Lock()
        for tally in self._tallies.values():
            del tally[:]  # in place: the snapshots' runners hold these lists
        self._folded.clear()
        self._totals.clear()
        self._exported.clear()
        self.since = self.clock()


def _add(into: dict[tuple[str, str], int], counts: dict[Any, int]) -> None:
    for res, n in counts.items():
        # a resolution (value, variant, reason, rule) or a name key (variant, reason, rule)
        variant, reason = (res[1], res[2]) if len(res) == 4 else (res[0], res[1])
        ident = (CODE_DEFAULT_NAME if variant is None else str(variant), str(reason))
        into[ident] = into.get(ident, 0) + n


def read_usage(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a usage file written by :meth:`UsageRecorder.export`.

    Raises:
        OSError: The file cannot be read.
        ValueError: It is not a flagkit usage file.
    """
    raw = Path(path).read_bytes()
    if len(raw) > 64 * 1024 * 1024:
        raise ValueError("usage file larger than 64 MiB")
    data = json.loads(raw)
    if (
        not isinstance(data, dict)
        or data.get("format") != USAGE_FORMAT
        or not isinstance(data.get("flags"), dict)
    ):
        raise ValueError(f"not a flagkit usage file (expected format {USAGE_FORMAT!r})")
    return data


def merge_usage(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine usage documents (several processes or exports): counts add, ``last_seen`` is the latest."""
    flags: dict[str, Any] = {}
    since: float | None = None
    now: float | None = None
    for doc in documents:
        if isinstance(doc.get("since"), int | float):
            since = doc["since"] if since is None else min(since, doc["since"])
        if isinstance(doc.get("now"), int | float):
            now = doc["now"] if now is None else max(now, doc["now"])
        for key, entry in doc["flags"].items():
            if not isinstance(entry, dict):
                continue
            out = flags.setdefault(key, {"evaluations": 0, "last_seen": None, "variants": {}})
            seen = entry.get("last_seen")
            if isinstance(seen, int | float) and (out["last_seen"] is None or seen > out["last_seen"]):
                out["last_seen"] = seen
            variants = entry.get("variants")
            for variant, reasons in (variants if isinstance(variants, dict) else {}).items():
                if not isinstance(reasons, dict):
                    continue
                into = out["variants"].setdefault(variant, {})
                for reason, n in reasons.items():
                    if isinstance(n, int) and not isinstance(n, bool):
                        into[reason] = into.get(reason, 0) + n
                        out["evaluations"] += n
    return {"format": USAGE_FORMAT, "since": since, "now": now, "flags": dict(sorted(flags.items()))}
