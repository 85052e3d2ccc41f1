"""Ramps: a split whose first variant grows on a schedule written in the flag file.

::

    rules:
      - name: canary
        serve: {on: 0, off: 100}        # served before the ramp starts
        ramp:
          start: 2026-12-07T09:00:00Z
          steps: [1, 5, 20, 50, 100]     # percent of the first variant (`on`)
          interval: 4h                   # one step every 4 hours

or with explicit times: ``steps: [{at: 2026-12-07T09:00:00Z, percent: 1}, ...]``.

Compiling a ramp precomputes one ordinary split per phase (before the start, then each step);
evaluation reads the clock and picks the phase (a bisect over a few floats), so a ramp needs
no reload and costs one clock read only on ramped splits. Steps never decrease, and the
ramped variant is the first range of the split, so each step only moves the boundary up:
users who have the variant keep it (see docs/format.md, Bucketing).
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..document.schema import FlagDefinition, FlagDocument, Ramp, RampStep, Rule
from .operators import to_epoch

__all__ = [
    "Clock",
    "RampInfo",
    "RampSchedule",
    "RampState",
    "parse_interval",
    "ramped",
    "ramps_of",
    "schedule_of",
]

Clock = Callable[[], float]
"""Seconds since the epoch (``time.time``); injected so tests control time."""

WEIGHT_SCALE = 1000
TOTAL_WEIGHT = 100 * WEIGHT_SCALE
MAX_STEPS = 1000
_INTERVAL = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(s|m|h|d|w)\s*\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True, slots=True)
class RampState:
    """Where a ramp stands at one moment.

    Attributes:
        step: 1-based index of the current step; 0 before the ramp starts.
        steps: Number of steps.
        percent: Share of the ramped variant now.
        since: When the current step began (``None`` before the start).
        next_at: When the next step begins (``None`` after the last one).
        next_percent: The share it will bring.
    """

    step: int
    steps: int
    percent: float
    since: float | None
    next_at: float | None
    next_percent: float | None

    def describe(self) -> str:
        """``step 2 of 5: 5 % since 2026-12-07 13:00 UTC; next: 20 % at 2026-12-07 17:00 UTC``."""
        if self.step == 0:
            now = f"not started: {_pct(self.percent)} (the split as written)"
        else:
            now = f"step {self.step} of {self.steps}: {_pct(self.percent)} since {_when(self.since)}"
        if self.next_at is None:
            return f"{now}; ramp complete"
        return f"{now}; next: {_pct(self.next_percent or 0.0)} at {_when(self.next_at)}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields, times as ISO 8601 UTC."""
        return {
            "step": self.step,
            "steps": self.steps,
            "percent": self.percent,
            "since": _iso(self.since),
            "next_at": _iso(self.next_at),
            "next_percent": self.next_percent,
        }


@dataclass(frozen=True, slots=True)
class RampSchedule:
    """A validated ramp: when each step starts and the ramped variant's weight in it.

    Attributes:
        times: Epoch seconds at which each step begins, increasing.
        units: The ramped variant's weight per step, in 0.001 % units, never decreasing.
        initial: Its weight before the first step (from ``serve``).
    """

    times: tuple[float, ...]
    units: tuple[int, ...]
    initial: int

    def phase(self, now: float) -> int:
        """0 before the start, else the 1-based current step."""
        return bisect.bisect_right(self.times, now)

    def state(self, now: float) -> RampState:
        """Where the ramp stands at ``now``."""
        i = self.phase(now)
        n = len(self.times)
        percent = (self.units[i - 1] if i else self.initial) / WEIGHT_SCALE
        since = self.times[i - 1] if i else None
        next_at = self.times[i] if i < n else None
        next_percent = self.units[i] / WEIGHT_SCALE if i < n else None
        return RampState(i, n, percent, since, next_at, next_percent)

    def weights(self, first: str, second: str, now: float) -> dict[str, float]:
        """The split in force at ``now``, as ``{variant: percent}``."""
        i = self.phase(now)
        units = self.units[i - 1] if i else self.initial
        return {first: units / WEIGHT_SCALE, second: (TOTAL_WEIGHT - units) / WEIGHT_SCALE}


def parse_interval(value: int | float | str) -> float:
    """``90`` (seconds), ``"30s"``, ``"15m"``, ``"4h"``, ``"1d"``, ``"1w"`` → seconds.

    Raises:
        ValueError: Not a positive duration.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration like 4h, 30m, 1d or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _INTERVAL.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration (use s, m, h, d or w: 30m, 4h, 1d)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not seconds > 0:
        raise ValueError("the interval must be positive")
    return seconds


def _percent_units(value: float) -> tuple[int, str | None]:
    units = round(value * WEIGHT_SCALE)
    if not 0 <= value <= 100:
        return units, f"{value:g} is not a percentage between 0 and 100"
    if abs(units - value * WEIGHT_SCALE) > 1e-6:
        return units, f"{value} is finer than 0.001 %"
    return units, None


def schedule_of(
    ramp: Ramp, initial: int
) -> tuple[RampSchedule | None, list[tuple[str, tuple[str | int, ...]]]]:
    """Validate a ramp; ``(schedule, [])`` or ``(None, [(message, relative path), ...])``.

    Args:
        ramp: The ramp as written.
        initial: The ramped variant's weight in the ``serve`` split (0.001 % units).
    """
    problems: list[tuple[str, tuple[str | int, ...]]] = []
    if not ramp.steps:
        return None, [("a ramp needs at least one step", ("steps",))]
    if len(ramp.steps) > MAX_STEPS:
        return None, [(f"a ramp has at most {MAX_STEPS} steps", ("steps",))]
    explicit = [step for step in ramp.steps if isinstance(step, RampStep)]
    numbers = [step for step in ramp.steps if not isinstance(step, RampStep)]
    times: list[float] = []
    units: list[int] = []
    if not numbers:
        if ramp.start is not None or ramp.interval is not None:
            problems.append(("steps with `at` times take no `start` or `interval`", ()))
        for i, step in enumerate(explicit):
            at = _epoch(step.at)
            if at is None:
                problems.append((f"{step.at!r} is not an ISO date or datetime", ("steps", i, "at")))
                continue
            times.append(at)
            weight, problem = _percent_units(step.percent)
            units.append(weight)
            if problem:
                problems.append((problem, ("steps", i, "percent")))
    elif not explicit:
        if ramp.start is None or ramp.interval is None:
            problems.append(("a ramp with percentages needs `start` and `interval`", ()))
            return None, problems
        start = _epoch(ramp.start)
        if start is None:
            problems.append((f"{ramp.start!r} is not an ISO date or datetime", ("start",)))
        try:
            every = parse_interval(ramp.interval)
        except ValueError as exc:
            problems.append((str(exc), ("interval",)))
            every = 0.0
        for i, number in enumerate(numbers):
            weight, problem = _percent_units(float(number))
            units.append(weight)
            if problem:
                problems.append((problem, ("steps", i)))
            if start is not None:
                times.append(start + i * every)
    else:
        return None, [("write every step as a percentage, or every step as {at, percent}", ("steps",))]
    if problems:
        return None, problems
    for i in range(1, len(units)):
        if times[i] <= times[i - 1]:
            problems.append(("step times must increase", ("steps", i)))
        if units[i] < units[i - 1]:
            problems.append(
                (
                    f"steps never go down (users would drop out): {units[i] / WEIGHT_SCALE:g} % after "
                    f"{units[i - 1] / WEIGHT_SCALE:g} %",
                    ("steps", i),
                )
            )
    if problems:
        return None, problems
    return RampSchedule(tuple(times), tuple(units), initial), []


def _epoch(value: str | dt.date) -> float | None:
    if isinstance(value, str) and len(value) == 10:  # a bare date: midnight UTC
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return None
    return to_epoch(value)


def ramped(
    schedule: RampSchedule,
    phases: tuple[Callable[[Mapping[str, Any]], Any], ...],
    clock: Clock,
) -> Callable[[Mapping[str, Any]], Any]:
    """A split resolver that picks the phase's precompiled split from the clock.

    Args:
        schedule: The ramp.
        phases: ``len(schedule.times) + 1`` split resolvers: before the start, then each step.
        clock: Seconds since the epoch.
    """
    times = schedule.times
    last = phases[-1]
    end = times[-1]
    find = bisect.bisect_right

    def ramp(ctx: Mapping[str, Any]) -> Any:
        now = clock()
        if now >= end:
            return last(ctx)
        return phases[find(times, now)](ctx)

    return ramp


def _pct(value: float) -> str:
    return f"{value:g} %"


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class RampInfo:
    """A ramp of a loaded document and where it stands.

    Attributes:
        path: ``("features", key, "rules", i, "ramp")``.
        variant: The variant it grows.
        state: Where it stands at the time asked.
    """

    path: tuple[str | int, ...]
    variant: str
    state: RampState


def rule_schedule(rule: Rule) -> RampSchedule | None:
    """The schedule of a loaded rule's ramp (its split's first variant grows), or ``None``
    when the rule has no ramp on a two-variant split (or, unloaded, an invalid one)."""
    serve = rule.serve
    if rule.ramp is None or not isinstance(serve, dict) or len(serve) != 2:
        return None
    first = next(iter(serve))
    schedule, _ = schedule_of(rule.ramp, round(serve[first] * WEIGHT_SCALE))
    return schedule


def ramps_of(document: FlagDocument, now: float) -> list[RampInfo]:
    """Every ramp of a valid document, with its state at ``now`` (for validate and lint)."""
    out: list[RampInfo] = []
    for key, flag in document.features.items():
        if not isinstance(flag, FlagDefinition):
            continue
        for index, rule in enumerate(flag.rules):
            schedule = rule_schedule(rule)
            if schedule is not None:
                path = ("features", key, "rules", index, "ramp")
                out.append(RampInfo(path, next(iter(rule.serve)), schedule.state(now)))
    return out
