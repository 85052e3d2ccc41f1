"""``flagkit scan --usage`` and ``flagkit validate --usage``: flags production no longer evaluates."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from flagkit import Flags
from tests.cli.runner import run, run_json, write

DAY = 86_400.0
TODAY = dt.date(2026, 6, 30)
NOW = dt.datetime.combine(TODAY, dt.time(), dt.UTC).timestamp()

FLAGS = """\
features:
  live: true
  quiet_lately: true
  never_seen: true
"""


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def usage_file(tmp_path: Path, name: str, since_days: float, evaluations: dict[str, float]) -> Path:
    """A real export: a client started ``since_days`` ago evaluating each flag ``n`` days ago."""
    flags_file = tmp_path / "features.yaml"
    if not flags_file.exists():
        write(flags_file, FLAGS)
    clock = Clock(NOW - since_days * DAY)
    flags = Flags.from_file(flags_file, watch=False)
    flags.enable_usage(clock=clock)
    for key, days_ago in sorted(evaluations.items(), key=lambda kv: -kv[1]):
        clock.now = NOW - days_ago * DAY
        flags.is_enabled(key)
        assert flags.usage() is not None  # stamps last_seen at this clock reading
    path = tmp_path / name
    flags.export_usage(path)
    flags.close()
    return path


def test_scan_lists_flags_not_evaluated_for_n_days(tmp_path: Path) -> None:
    usage = usage_file(tmp_path, "web-1.json", 60, {"live": 1, "quiet_lately": 20})
    code = write(tmp_path / "app" / "views.py", 'import flagkit\nflagkit.is_enabled("live")\n')
    out = run_json(
        "scan", code.parent, "--flags", tmp_path / "features.yaml", "--usage", usage,
        "--unused-days", "7", "--today", TODAY.isoformat(),
    )  # fmt: skip
    report = out["not_evaluated"]
    assert report["days"] == 7
    assert [(f["key"], f["days"]) for f in report["flags"]] == [("never_seen", None), ("quiet_lately", 20)]
    assert report["flags"][1]["last_seen"] == "2026-06-10T00:00:00+00:00"
    text = run(
        "scan", code.parent, "--flags", tmp_path / "features.yaml", "--usage", usage,
        "--unused-days", "30", "--today", TODAY.isoformat(),
    ).stdout  # fmt: skip
    assert "Not evaluated for 30 days" in text
    assert "never_seen  (never)" in text
    assert "quiet_lately" not in text.split("Not evaluated for 30 days")[1]


def test_validate_merges_several_usage_files_and_strict_fails(tmp_path: Path) -> None:
    first = usage_file(tmp_path, "web-1.json", 60, {"quiet_lately": 40})
    second = usage_file(tmp_path, "web-2.json", 3, {"live": 1, "quiet_lately": 2})  # short history
    args = ["validate", tmp_path / "features.yaml", "--usage", first, "--usage", second]
    out = run_json(*args, "--stale-days", "14", "--today", TODAY.isoformat())
    assert [f["key"] for f in out["not_evaluated"]["flags"]] == ["never_seen"]  # web-2 saw quiet_lately
    proc = run(*args, "--stale-days", "14", "--today", TODAY.isoformat(), "--strict")
    assert proc.returncode == 1
    assert "never_seen  (never)" in proc.stdout
    # scan's spelling works for validate too (and validate's for scan)
    assert run_json(*args, "--unused-days", "14", "--today", TODAY.isoformat()) == out


def test_a_short_recording_lists_no_never_seen_flags(tmp_path: Path) -> None:
    usage = usage_file(tmp_path, "new.json", 2, {"live": 1})
    out = run_json("validate", tmp_path / "features.yaml", "--usage", usage, "--today", TODAY.isoformat())
    assert out["not_evaluated"]["days"] == 30
    assert out["not_evaluated"]["flags"] == []  # two days of history prove nothing about 30


def test_usage_option_errors(tmp_path: Path) -> None:
    write(tmp_path / "features.yaml", FLAGS)
    proc = run("validate", tmp_path / "features.yaml", "--stale-days", "3")
    assert (proc.returncode, "needs --usage" in proc.stderr) == (2, True)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"flags": {}}))
    proc = run("validate", tmp_path / "features.yaml", "--usage", bad)
    assert proc.returncode == 2
    assert "not a flagkit usage file" in proc.stderr


def test_validate_judges_staleness_at_now_not_the_machines_clock(tmp_path: Path) -> None:
    # `--now` fixed ramps and `now` conditions but staleness used time.time(): a flag evaluated
    # the day before --now was "160 days ago" on a machine whose clock is months later.
    usage = usage_file(tmp_path, "web-1.json", 60, {"live": 1, "quiet_lately": 20, "never_seen": 45})
    at = (TODAY + dt.timedelta(days=1)).isoformat() + "T00:00:00Z"
    out = run_json(
        "validate", tmp_path / "features.yaml", "--usage", usage, "--stale-days", "14", "--now", at
    )
    assert [(f["key"], f["days"]) for f in out["not_evaluated"]["flags"]] == [
        ("never_seen", 46),
        ("quiet_lately", 21),
    ]
