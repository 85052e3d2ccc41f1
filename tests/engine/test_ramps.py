"""Ramps: a split that grows on a schedule, evaluated against an injected clock."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from flagkit import ConfigError, FlagSet
from flagkit._engine.ramps import parse_interval, ramps_of
from flagkit._tools.explain import explain_in
from flagkit._tools.lint import lint
from flagkit._tools.render import render_explanation
from tests.cli.runner import run_process as run

START = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC).timestamp()
HOUR = 3600.0
STEPS = [1, 5, 20, 50, 100]
USERS = [f"user-{i}" for i in range(10_000)]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ramped(ramp: dict[str, Any], serve: dict[str, float] | None = None, **flag: Any) -> dict[str, Any]:
    rule = {"name": "canary", "serve": serve or {"on": 0, "off": 100}, "ramp": ramp}
    return {"features": {"new_search": {**flag, "rules": [rule]}}}


SCHEDULE = {"start": "2026-12-07T09:00:00Z", "interval": "4h", "steps": STEPS}


def served_on(flagset: FlagSet) -> set[str]:
    resolve = flagset.flags["new_search"].resolve
    return {uid for uid in USERS if resolve({"user_id": uid}, {})[1] == "on"}


def test_each_step_serves_its_share_and_users_never_drop_out() -> None:
    clock = FakeClock(START - 1)
    flagset = FlagSet.from_dict(ramped(SCHEDULE), clock=clock)
    assert served_on(flagset) == set()  # before the start: the split as written (0 %)
    previous: set[str] = set()
    for step, percent in enumerate(STEPS):
        clock.now = START + step * 4 * HOUR  # exactly at the step's start
        now_on = served_on(flagset)
        assert previous <= now_on, f"users dropped out at step {step + 1}"
        assert abs(len(now_on) - percent * 100) <= max(40, percent * 6), (percent, len(now_on))
        clock.now += 4 * HOUR - 1  # the last second of the step: still the same users
        assert served_on(flagset) == now_on
        previous = now_on
    assert previous == set(USERS)
    clock.now = START + 10_000 * HOUR  # long after: stays at the last step
    assert served_on(flagset) == set(USERS)


def test_reason_and_rule_and_no_reload_needed() -> None:
    clock = FakeClock(START + 9 * HOUR)  # step 3: 20 %
    flagset = FlagSet.from_dict(ramped(SCHEDULE), clock=clock)
    resolve = flagset.flags["new_search"].resolve
    outcomes = {resolve({"user_id": uid}, {})[1:] for uid in USERS[:200]}
    assert outcomes == {("on", "SPLIT", "canary"), ("off", "SPLIT", "canary")}
    assert resolve({}, {})[1:] == ("off", "DEFAULT", "canary")  # no bucketing attribute: default


def test_explicit_times() -> None:
    ramp = {
        "steps": [
            {"at": "2026-12-07T09:00:00Z", "percent": 10},
            {"at": "2026-12-08", "percent": 50},  # a bare date is midnight UTC
            {"at": "2026-12-09T00:00:00+01:00", "percent": 100},
        ]
    }
    clock = FakeClock(START)
    flagset = FlagSet.from_dict(ramped(ramp), clock=clock)
    assert 900 < len(served_on(flagset)) < 1100
    clock.now = dt.datetime(2026, 12, 8, tzinfo=dt.UTC).timestamp()
    assert 4800 < len(served_on(flagset)) < 5200
    clock.now = dt.datetime(2026, 12, 8, 23, 0, tzinfo=dt.UTC).timestamp()
    assert len(served_on(flagset)) == 10_000


def test_the_written_split_applies_before_the_start_and_second_variant_order_is_fine() -> None:
    clock = FakeClock(START - HOUR)
    flagset = FlagSet.from_dict(ramped(SCHEDULE, serve={"on": 1, "off": 99}), clock=clock)
    before = served_on(flagset)
    assert 50 < len(before) < 150
    clock.now = START + 4 * HOUR
    assert before <= served_on(flagset)


def test_kill_overrides_a_ramp_at_once() -> None:
    clock = FakeClock(START + 100 * HOUR)  # 100 %
    flagset = FlagSet.from_dict(ramped(SCHEDULE, enabled=False), clock=clock)
    resolve = flagset.flags["new_search"].resolve
    assert {resolve({"user_id": uid}, {})[1:] for uid in USERS[:100]} == {("off", "DISABLED", None)}


@pytest.mark.parametrize(
    ("ramp", "serve", "message"),
    [
        ({**SCHEDULE, "steps": [5, 1]}, None, "ramp.steps[1]: steps never go down"),
        ({**SCHEDULE, "steps": [5, 101]}, None, "ramp.steps[1]: 101 is not a percentage"),
        ({**SCHEDULE, "steps": [0.0001]}, None, "finer than 0.001 %"),
        ({**SCHEDULE, "steps": []}, None, "at least one step"),
        ({**SCHEDULE, "interval": "soon"}, None, "ramp.interval: 'soon' is not a duration"),
        ({**SCHEDULE, "interval": 0}, None, "ramp.interval: the interval must be positive"),
        ({**SCHEDULE, "start": "next monday"}, None, "ramp.start: 'next monday' is not an ISO date"),
        ({"steps": [1, 2]}, None, "needs `start` and `interval`"),
        ({"steps": [1, {"at": "2026-01-01", "percent": 5}]}, None, "write every step as a percentage"),
        (
            {"steps": [{"at": "2026-01-02", "percent": 1}, {"at": "2026-01-01", "percent": 5}]},
            None,
            "ramp.steps[1]: step times must increase",
        ),
        ({"start": "2026-01-01", "steps": [{"at": "2026-01-02", "percent": 1}]}, None, "take no `start`"),
        (SCHEDULE, {"a": 50, "b": 25, "c": 25}, "a ramp needs a two-variant split"),
        ({**SCHEDULE, "every": "1h"}, None, "ramp.every: unknown field"),
    ],
)
def test_invalid_ramps_are_load_errors_with_the_field_path(
    ramp: dict[str, Any], serve: dict[str, float] | None, message: str
) -> None:
    doc = ramped(ramp, serve)
    if serve and "a" in serve:
        doc["features"]["new_search"].update(variants={"a": 1, "b": 2, "c": 3}, default="a")
    with pytest.raises(ConfigError) as info:
        FlagSet.from_dict(doc)
    assert message in str(info.value)
    assert "features.new_search.rules[0]" in str(info.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        (1.5, 1.5),
        ("30s", 30.0),
        ("15m", 900.0),
        ("4h", 14400.0),
        ("1d", 86400.0),
        ("2w", 1209600.0),
    ],
)
def test_parse_interval(text: int | float | str, seconds: float) -> None:
    assert parse_interval(text) == seconds


def test_state_and_explain_show_the_current_step_and_the_next() -> None:
    flagset = FlagSet.from_dict(ramped(SCHEDULE))
    (info,) = ramps_of(flagset.document, START + 5 * HOUR)  # type: ignore[arg-type]
    assert info.path == ("features", "new_search", "rules", 0, "ramp")
    assert info.state.describe() == (
        "step 2 of 5: 5 % since 2026-12-07 13:00:00 UTC; next: 20 % at 2026-12-07 17:00:00 UTC"
    )
    assert info.state.as_dict()["next_at"] == "2026-12-07T17:00:00Z"
    assert ramps_of(flagset.document, START - 1)[0].state.describe().startswith("not started: 0 %")  # type: ignore[arg-type]
    assert ramps_of(flagset.document, START + 99 * HOUR)[0].state.describe().endswith("ramp complete")  # type: ignore[arg-type]
    trace = explain_in(flagset, "new_search", {"user_id": "user-1"})  # at the real time, whatever it is
    text = "\n".join(render_explanation(trace))
    assert "ramp of on: " in text
    assert trace.consistent


def test_lint_ramp_complete_and_drops_users() -> None:
    flagset = FlagSet.from_dict(ramped(SCHEDULE, serve={"on": 10, "off": 90}))
    codes = {w.code for w in lint(flagset, now=START - 1)}
    assert codes == {"ramp-drops-users"}  # 10 % written, first step 1 %
    assert {w.code for w in lint(flagset, now=START + 100 * HOUR)} == {"ramp-complete"}
    assert lint(FlagSet.from_dict(ramped(SCHEDULE)), now=START + HOUR) == []  # no single-variant-split


def test_ramp_is_in_the_json_schema() -> None:
    from flagkit.document.schema import json_schema

    schema = json_schema()
    assert "ramp" in schema["$defs"]["Rule"]["properties"]


CLI_FILE = """\
features:
  new_search:
    rules:
      - name: canary
        serve: {on: 0, off: 100}
        ramp:
          start: 2020-01-01T00:00:00Z
          interval: 36500d      # the next step is a century away: deterministic
          steps: [1, 5, 20, 50, 100]
"""


@pytest.mark.slow
def test_cli_validate_and_explain_show_the_step_and_rollout_refuses(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(CLI_FILE)
    proc = run("validate", path)
    assert proc.returncode == 0, proc.stdout
    assert (
        f"{path}:6: ramp: features.new_search.rules[0].ramp: on step 1 of 5: "
        "1 % since 2020-01-01 00:00:00 UTC; next: 5 % at 2119-12-08 00:00:00 UTC"
    ) in proc.stdout
    proc = run("eval", path, "new_search", "-c", "user_id=u-3", "--explain")
    assert "ranges: on [0 %, 1 %), off [1 %, 100 %)" in proc.stdout
    assert "ramp of on: step 1 of 5" in proc.stdout
    proc = run("rollout", path, "new_search", "50")
    assert proc.returncode == 1
    assert "is ramped: change its `ramp`" in proc.stderr
    proc = run("kill", path, "new_search")
    assert proc.returncode == 0
    proc = run("eval", path, "new_search", "-c", "user_id=u-3")
    assert "reason   DISABLED" in proc.stdout


DAILY_FILE = """\
features:
  new_search:
    rules:
      - serve: {on: 1, off: 99}
        ramp: {start: "2026-01-01T00:00:00Z", steps: [1, 5, 20, 100], interval: 1d}
"""


@pytest.mark.slow
def test_cli_now_moves_ramps_as_well_as_now_conditions(tmp_path: Path) -> None:
    """``--now`` is one clock for the whole command: the compiled ramp, the trace, simulate's
    population, diff's transitions and validate's step all read it (not the real clock)."""
    path = tmp_path / "flags.yaml"
    path.write_text(DAILY_FILE)
    step3 = "2026-01-03T12:00:00Z"  # 20 %
    for user in ("u-1", "u-2", "u-3", "u-4", "u-5", "u-6"):
        proc = run("eval", path, "new_search", "-c", f"user_id={user}", "--explain", "--now", step3)
        assert proc.returncode == 0, proc.stderr
        assert "disagrees" not in proc.stdout + proc.stderr
        assert "ramp of on: step 3 of 4: 20 %" in proc.stdout
        assert "ranges: on [0 %, 20 %), off [20 %, 100 %)" in proc.stdout
    proc = run("simulate", path, "new_search", "--users", "20000", "--now", step3, "--json")
    assert proc.returncode == 0, proc.stderr
    share = json.loads(proc.stdout)
    on = next(v for v in share["variants"] if v["variant"] == "on")
    assert 0.19 < on["share"] < 0.21, on
    old = tmp_path / "old.yaml"
    old.write_text(DAILY_FILE.replace("steps: [1, 5, 20, 100]", "steps: [1, 5, 50, 100]"))
    proc = run("diff", old, path, "--now", step3, "--users", "20000", "--json")
    assert proc.returncode == 1, proc.stderr
    (flag,) = json.loads(proc.stdout)["flags"]
    moved = {(t["from"], t["to"]): t["share"] for t in flag["transitions"]}
    assert 0.29 < moved[("on", "off")] < 0.31, moved  # 50 % → 20 % on that day
    proc = run("validate", path, "--now", step3)
    assert "on step 3 of 4: 20 % since 2026-01-03 00:00:00 UTC" in proc.stdout
    proc = run("validate", path, "--now", "2027-01-01")
    assert "ramp-complete" in proc.stdout


@pytest.mark.slow
def test_validate_says_a_killed_ramp_is_not_served(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(DAILY_FILE.replace("  new_search:\n", "  new_search:\n    enabled: false\n"))
    proc = run("validate", path, "--now", "2026-01-02T12:00:00Z")
    assert "on step 2 of 4: 5 %" in proc.stdout
    assert "(the flag is killed, enabled: false: the ramp is not served)" in proc.stdout
    proc = run("validate", path, "--now", "2026-01-02T12:00:00Z", "--json")
    (ramp,) = json.loads(proc.stdout)["files"][0]["ramps"]
    assert ramp["killed"] is True
