"""``flagkit diff OLD NEW``: the real console script on real files and on stdin."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from flagkit import FlagSet
from flagkit.cli.simulate import id_attributes, population
from tests.cli.runner import COMMAND, REPO, run

OLD = """\
segments:
  staff: {email: {ends_with: "@example.com"}}
features:
  new_checkout: true
  max_upload_mb: 25
  new_search:
    rules:
      - name: staff first
        when: {segment: staff}
        serve: on
      - name: rollout
        serve: {on: 10, off: 90}
  legacy_export:
    enabled: false
  button_color:
    variants: {blue: "#1f6feb", green: "#2da44e"}
    default: blue
"""

NEW = (
    OLD.replace("{on: 10, off: 90}", "{on: 25, off: 75}")
    .replace("  legacy_export:\n    enabled: false\n", "")
    .replace("max_upload_mb: 25", "max_upload_mb: 25  # a comment only")
    .replace('green: "#2da44e"', 'green: "#00ff00"')
    + "  beta_banner: true\n"
)


def moved(old: str, new: str, key: str, users: int = 10_000) -> int:
    a, b = FlagSet.from_bytes(old, source="a.yaml"), FlagSet.from_bytes(new, source="b.yaml")
    fa, fb = a.flags[key], b.flags[key]
    n = 0
    for ctx, _ in population(users, id_attributes(fa, fb)):
        if fa.resolve(ctx, {})[1] != fb.resolve(ctx, {})[1]:
            n += 1
    return n


def test_diff_reports_definitions_and_transitions(tmp_path: Path) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(OLD)
    new.write_text(NEW)
    proc = run("diff", old, new)
    assert proc.returncode == 1, proc.stderr  # like diff: 1 when something differs
    out = proc.stdout
    n = moved(OLD, NEW, "new_search")
    assert 1300 < n < 1700  # about 15 % move from off to on
    assert "~ new_search  changed" in out
    assert "    rules[1].serve.on: 10 → 25\n" in out
    assert f"    off → on: {100 * n / 10_000:.2f} % of users ({n:,})\n" in out
    assert "+ beta_banner  added\n" in out
    assert "    (absent) → on: 100.00 % of users (10,000)" in out
    assert "- legacy_export  removed\n" in out
    assert "    off → (absent): 100.00 % of users (10,000)" in out
    assert "~ button_color  changed" in out
    assert '    variants.green: "#2da44e" → "#00ff00"' in out
    assert "    no user changes variant" in out  # nobody is served green
    assert "max_upload_mb" not in out  # a comment is not a change
    assert out.rstrip().endswith("4 flags differ: 1 added, 1 removed, 2 changed; 2 unchanged")


def test_identical_versions_exit_0(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(OLD)
    new = tmp_path / "new.json"  # the same flags written as JSON
    new.write_text(json.dumps({"segments": {"staff": {"email": {"ends_with": "@example.com"}}}, "features": {
        "new_checkout": True, "max_upload_mb": 25,
        "new_search": {"rules": [{"name": "staff first", "when": {"segment": "staff"}, "serve": "on"},
                                 {"name": "rollout", "serve": {"on": 10, "off": 90}}]},
        "legacy_export": {"enabled": False},
        "button_color": {"variants": {"blue": "#1f6feb", "green": "#2da44e"}, "default": "blue"},
    }}))  # fmt: skip
    proc = run("diff", old, new)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip() == f"{old} → {new}: no flag changes (5 flags)"


@pytest.mark.slow  # stdin of a real process
def test_stdin_like_git_show(tmp_path: Path) -> None:
    new = tmp_path / "features.yaml"
    new.write_text(NEW)
    proc = subprocess.run(
        [*COMMAND, "diff", "-", str(new), "--json", "--users", "2000"],
        input=OLD,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["old"] == "<stdin>"
    assert data["users"] == 2000
    flags = {f["key"]: f for f in data["flags"]}
    assert set(flags) == {"new_search", "beta_banner", "legacy_export", "button_color"}
    (transition,) = flags["new_search"]["transitions"]
    n = moved(OLD, NEW, "new_search", users=2000)
    assert transition == {"from": "off", "to": "on", "users": n, "share": n / 2000}
    assert data["summary"] == {"added": 1, "removed": 1, "changed": 2, "unchanged": 2}


def test_segment_change_and_attr_population(tmp_path: Path) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(OLD)
    new.write_text(OLD.replace('"@example.com"', '"@example.org"'))
    proc = run("diff", old, new, "--users", "1000", "--attr", "email=a@example.com,b@example.org")
    assert proc.returncode == 1
    assert "~ new_search  changed" in proc.stdout
    assert "a segment it uses changed" in proc.stdout
    assert "on → off: " in proc.stdout
    assert "off → on: " in proc.stdout


def test_invalid_or_missing_file_exits_2(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(OLD)
    bad = tmp_path / "bad.yaml"
    bad.write_text("features:\n  a: {default: nope}\n")
    proc = run("diff", old, bad)
    assert proc.returncode == 2
    assert "invalid flag file" in proc.stderr
    assert run("diff", old, tmp_path / "missing.yaml").returncode == 2
    assert run("diff", "-", "-").returncode == 2


def test_one_flag_differs_in_the_singular(tmp_path: Path) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text("features:\n  a: true\n  b: true\n")
    new.write_text("features:\n  a: false\n  b: true\n")
    proc = run("diff", old, new)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.rstrip().endswith("1 flag differs: 1 changed; 1 unchanged")
