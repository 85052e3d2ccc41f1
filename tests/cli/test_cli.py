"""The ``flagkit`` command on real files: ``flagkit.cli.main`` in process, and the console script in a
subprocess where only a real process proves it (entry point, ``python -m``, PATH, terminal encoding)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.bench_load import make_document
from flagkit import Flags, FlagSet
from flagkit.cli import parse_value
from flagkit.cli.demo import client_for
from tests.cli.runner import REPO, SCRIPT, run, run_json, run_process, write

EXAMPLE = REPO / "examples" / "features.yaml"

BAD = """\
features:
  good: true
  typo_default:
    variants: {a: 1, b: 2}
    default: c
  bad_split:
    rules:
      - serve: {on: 10, off: 80}
  bad_operator:
    rules:
      - when: {age: {greater: 3}}
        serve: on
  unknown_field:
    descripton: oops
"""

WARNINGS = """\
segments:
  stale: {country: US}
features:
  old:
    expires: 2020-01-01
    rules:
      - serve: {on: 100, off: 0}
      - when: {plan: pro}
        serve: off
"""


# --- validate -----------------------------------------------------------------------------


def test_validate_ok() -> None:
    proc = run("validate", EXAMPLE, "--today", "2026-01-01")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"{EXAMPLE}: ok (12 flags)"


def test_validate_lists_every_error_with_file_line_and_path(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", BAD)
    proc = run("validate", bad)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert f"{bad}:5: error: features.typo_default.default: 'c' is not a variant" in proc.stdout
    assert f"{bad}:8: error: features.bad_split.rules[0].serve: split weights sum to 90, not 100" in lines
    operator = f"{bad}:11: error: features.bad_operator.rules[0].when.age.greater: unknown operator 'greater'"
    assert operator in proc.stdout
    assert (
        f"{bad}:14: error: features.unknown_field.descripton: unknown field; did you mean 'description'?"
        in lines
    )
    assert lines[-1] == f"{bad}: invalid (4 errors)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("features:\n  a: [1, 2\n  b: true\n", "invalid YAML"),
        ("features:\n  a: true\n  a: false\n", "duplicate key 'a' (line 2 and line 3)"),
        ("features: !!python/object:os.system {}\n", "not allowed"),
        ("- just\n- a list\n", "must be a mapping"),
    ],
    ids=["syntax", "duplicate", "unsafe-tag", "not-a-mapping"],
)
def test_validate_reports_bad_yaml_without_a_traceback(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "flags.yaml", text)
    proc = run("validate", path)
    assert proc.returncode == 1
    assert expected in proc.stdout
    assert proc.stdout.startswith(f"{path}")


def test_validate_json_file_and_json_output(tmp_path: Path) -> None:
    good = tmp_path / "flags.json"
    good.write_text(json.dumps({"features": {"a": True, "b": {"rules": [{"serve": "on"}]}}}))
    bad = tmp_path / "bad.json"
    bad.write_text('{"features": {"x": {"default": "nope"}}}')
    data = run_json("validate", good, bad, code=1)
    assert data["valid"] is False
    assert data["errors"] == 1
    assert data["warnings"] == 0
    first, second = data["files"]
    assert first == {"file": str(good), "valid": True, "flags": 2, "errors": [], "warnings": []}
    (error,) = second["errors"]
    assert error["flag"] == "x"
    assert error["path"] == "features.x.default"
    assert error["line"] == 1
    assert "'nope' is not a variant" in error["message"]


def test_validate_warnings_and_strict(tmp_path: Path) -> None:
    path = write(tmp_path / "warn.yaml", WARNINGS)
    proc = run("validate", path, "--today", "2026-01-01")
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    assert lines == [
        f"{path}:2: warning: segments.stale: segment is not used by any flag [unused-segment]",
        f"{path}:5: warning: features.old.expires: expired on 2020-01-01 (2192 days ago): "
        "remove the flag and the code paths it guards [expired]",
        f"{path}:7: warning: features.old.rules[0].serve: split serves only 'on' (every other variant "
        "has weight 0): write `serve: on` [single-variant-split]",
        f"{path}:8: warning: features.old.rules[1]: rule can never match: rules[0] has no `when` "
        "and catches everyone [unreachable-rule]",
        f"{path}: 4 warnings (1 flag)",
    ]
    assert run("validate", path, "--strict").returncode == 1
    data = run_json("validate", path, "--strict", code=1)
    assert [w["code"] for w in data["files"][0]["warnings"]] == [
        "unused-segment",
        "expired",
        "single-variant-split",
        "unreachable-rule",
    ]


def test_validate_several_files_and_missing_ones(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", BAD)
    proc = run("validate", EXAMPLE, bad, "--today", "2026-01-01")
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1] == "2 files: 4 errors, 0 warnings"
    missing = run("validate", tmp_path / "nope.yaml")
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"flagkit: {tmp_path / 'nope.yaml'}: no such file"
    assert run("validate", tmp_path).returncode == 2
    assert run("validate").returncode == 2


def test_validate_a_ten_thousand_flag_file(tmp_path: Path) -> None:
    """Correctness at scale; the speed (under 2 s for a pre-commit hook) is measured by
    benchmarks/bench_validate.py, not asserted here."""
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(make_document(10_000), sort_keys=False))
    proc = run("validate", path, "--today", "2026-01-01")  # its flags expire in 2027
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert proc.stdout.strip() == f"{path}: ok (10,000 flags)"


# --- eval ---------------------------------------------------------------------------------


def test_eval_prints_value_variant_reason_and_rule() -> None:
    proc = run("eval", EXAMPLE, "new_search", "-c", "country=US", "-c", "premium=true", "-c", "user_id=u-9")
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [
        "new_search = true",
        "  variant  on",
        "  reason   TARGETING_MATCH",
        "  rule     premium US",
        '  context  {"country": "US", "premium": true, "user_id": "u-9"}',
    ]


def test_eval_context_values_are_typed(tmp_path: Path) -> None:
    path = write(
        tmp_path / "typed.yaml",
        """\
        features:
          f:
            rules:
              - name: typed
                when:
                  premium: true
                  age: {gte: 18}
                  score: {gt: 1.5}
                  zip: "02134"
                  app: {semver_gte: "3.10.0"}
                  name: alice
                serve: on
        """,
    )
    args = ["-c", "premium=true", "-c", "age=30", "-c", "score=2.5", "-c", 'zip="02134"', "-c", "name=alice"]
    data = run_json("eval", path, "f", *args, "-c", "app=3.10.1")
    assert (data["variant"], data["reason"], data["rule"]) == ("on", "TARGETING_MATCH", "typed")
    assert data["context"] == {
        "premium": True,
        "age": 30,
        "score": 2.5,
        "zip": "02134",
        "name": "alice",
        "app": "3.10.1",
    }
    # 02134 unquoted is the number 2134, which does not equal the string "02134".
    data = run_json("eval", path, "f", *args[:-4], "-c", "zip=02134", "-c", "name=alice", "-c", "app=3.10.1")
    assert data["reason"] == "DEFAULT"
    assert data["context"]["zip"] == 2134


def test_bucketing_attributes_from_the_command_line_are_strings(tmp_path: Path) -> None:
    # Django passes str(user.pk): `-c user_id=7` must bucket as "7" does in the app.
    path = write(tmp_path / "split.yaml", "features:\n  f:\n    bucket_by: account\n    rules:\n"
                 "      - serve: {on: 50, off: 50}\n")  # fmt: skip
    data = run_json("eval", path, "f", "-c", "user_id=7", "-c", "targeting_key=8", "-c", "account=9",
                    "-c", "age=30", "-c", "n:=7", "-c", 'tags:=["a", 1]', "-c", "none:=null")  # fmt: skip
    strings = {"user_id": "7", "targeting_key": "8", "account": "9"}
    assert data["context"] == {**strings, "age": 30, "n": 7, "tags": ["a", 1], "none": None}
    with client_for(FlagSet.from_file(path)) as flags:
        assert data["variant"] == flags.variant("f", {"account": "9"})
    assert run("eval", path, "f", "-c", "n:={oops").returncode == 2


def test_now_checks_time_window_rules_ahead_of_time() -> None:
    assert run_json("eval", EXAMPLE, "holiday_banner", "--now", "2026-12-24")["variant"] == "winter"
    assert run_json("eval", EXAMPLE, "holiday_banner", "--now", "2026-07-01T12:00:00Z")["variant"] == "none"
    assert run_json("eval", EXAMPLE, "holiday_banner", "-c", "now=2026-12-24")["variant"] == "winter"
    explained = run("eval", EXAMPLE, "holiday_banner", "--now", "2027-01-05T23:00:00+00:00", "--explain")
    assert "now = 2027-01-05T23:00:00+00:00" in explained.stdout
    data = run_json("simulate", EXAMPLE, "holiday_banner", "--users", "100", "--now", "2026-12-24")
    assert {v["variant"]: v["count"] for v in data["variants"]}["winter"] == 100
    assert run("eval", EXAMPLE, "holiday_banner", "-c", "now=someday").returncode == 2
    assert (
        run("eval", EXAMPLE, "holiday_banner", "--now", "2026-12-24", "-c", "now=2026-12-25").returncode == 2
    )
    assert "winter" in run("demo", EXAMPLE, "--now", "2026-12-24").stdout


def test_eval_context_json_with_c_on_top() -> None:
    context = json.dumps({"country": "US", "premium": False, "user_id": "u-1"})
    data = run_json("eval", EXAMPLE, "new_search", "--context-json", context, "-c", "premium=true")
    assert data["context"] == {"country": "US", "premium": True, "user_id": "u-1"}
    assert data["rule"] == "premium US"


def test_json_output_never_holds_nan_or_infinity() -> None:
    # 1e999 is a float infinity once parsed; JSON has no such number, so flagkit writes a string.
    proc = run("eval", EXAMPLE, "new_search", "-c", "age=1e999", "-c", "score=-1e999", "--json", "--explain")
    assert proc.returncode == 0, proc.stderr
    assert "Infinity" not in proc.stdout
    assert "NaN" not in proc.stdout
    data = json.loads(proc.stdout, parse_constant=lambda text: pytest.fail(f"{text} in flagkit's JSON"))
    assert data["context"]["age"] == "inf"
    refused = run("eval", EXAMPLE, "new_search", "--context-json", '{"age": NaN}')
    assert refused.returncode == 2
    assert "NaN is not a JSON number" in refused.stderr


def test_eval_explain_matches_the_library() -> None:
    flagset = FlagSet.from_file(EXAMPLE)
    with client_for(flagset) as flags:
        for i in range(8):
            ctx = {"account_id": f"acct-{i}", "app_version": "3.5.0"}
            args = ["-c", f"account_id=acct-{i}", "-c", "app_version=3.5.0", "--explain"]
            data = run_json("eval", EXAMPLE, "new_recommendation_engine", *args)
            real = flags.evaluate("new_recommendation_engine", None, ctx)
            assert (data["value"], data["variant"], data["reason"], data["rule"]) == (
                real.value,
                real.variant,
                str(real.reason),
                real.rule,
            )
            explanation = data["explanation"]
            assert explanation["consistent"] is True
            split = explanation["rules"][2]["split"]
            assert split["attribute"] == "account_id"
            assert split["variant"] == real.variant
            (arm,) = [r for r in split["ranges"] if r["start"] <= split["bucket"] < r["end"]]
            assert arm["variant"] == real.variant


def test_eval_explain_text() -> None:
    proc = run("eval", EXAMPLE, "new_search", "-c", "user_id=u-003", "--explain")
    assert proc.returncode == 0
    out = proc.stdout
    assert "Trace:" in out
    assert "rules[0] 'staff first': no match" in out
    assert '✗ email ends_with "@example.com"  (saw absent)' in out
    assert "rules[2] 'ten percent': matched → split" in out
    assert 'split on user_id = "u-003", salt "new_search"' in out
    assert "ranges: on [0 %, 10 %), off [10 %, 100 %)" in out
    assert "bucket 46,528 of 100,000 (46.528 %) → off" in out


def test_eval_unknown_flag_and_usage_errors(tmp_path: Path) -> None:
    proc = run("eval", EXAMPLE, "new_serch")
    assert proc.returncode == 1
    assert "flag 'new_serch' is not defined" in proc.stderr
    assert "did you mean 'new_search'?" in proc.stderr
    data = run_json("eval", EXAMPLE, "new_serch", code=1)
    assert data["reason"] == "ERROR"
    assert data["error_code"] == "FLAG_NOT_FOUND"
    assert run("eval", EXAMPLE, "new_search", "-c", "no-equals-sign").returncode == 2
    assert run("eval", EXAMPLE, "new_search", "--context-json", "{nope").returncode == 2
    assert run("eval", EXAMPLE, "new_search", "--context-json", "[1]").returncode == 2
    assert run("eval", tmp_path / "missing.yaml", "x").returncode == 2
    bad = write(tmp_path / "bad.yaml", BAD)
    proc = run("eval", bad, "good")
    assert proc.returncode == 1
    assert f"{bad}:8: error: features.bad_split.rules[0].serve" in proc.stderr
    assert f"run `flagkit validate {bad}`" in proc.stderr


# --- simulate -----------------------------------------------------------------------------


def test_simulate_matches_the_rollout_percentages() -> None:
    data = run_json("simulate", EXAMPLE, "new_recommendation_engine", "--users", "100000")
    assert data["users"] == 100_000
    shares = {v["variant"]: v["share"] for v in data["variants"]}
    counts = {v["variant"]: v["count"] for v in data["variants"]}
    assert sum(counts.values()) == 100_000
    # Synthetic users have no app_version or email, so everyone reaches the 50/25/25 split.
    for variant, expected in {"legacy": 0.50, "ai": 0.25, "hybrid": 0.25}.items():
        assert abs(shares[variant] - expected) < 0.01, shares
    assert data["outcomes"][0]["rule"] == "rollout"


def test_simulate_by_attribute() -> None:
    data = run_json(
        "simulate",
        EXAMPLE,
        "new_search",
        "--users",
        "30000",
        "--attr",
        "country=US,DE,FR",
        "-c",
        "premium=true",
    )
    groups = {g["value"]: g for g in data["by_attribute"]["country"]}
    assert {k: g["users"] for k, g in groups.items()} == {"US": 10_000, "DE": 10_000, "FR": 10_000}
    assert groups["US"]["counts"] == {"on": 10_000, "off": 0}
    for country in ("DE", "FR"):
        assert abs(groups[country]["counts"]["on"] / 10_000 - 0.10) < 0.02


def test_simulate_text_output_and_determinism() -> None:
    args = ("simulate", EXAMPLE, "button_color", "--users", "6000", "--attr", "plan=free,pro,enterprise")
    first = run(*args)
    assert first.returncode == 0
    assert run(*args).stdout == first.stdout
    lines = first.stdout.splitlines()
    assert lines[0] == "button_color: 6,000 simulated users (seed 0)"
    assert lines[2].split() == ["variant", "value", "users", "share"]
    assert "by plan:" in lines
    free = next(line for line in lines if line.strip().startswith("free"))
    assert "100.0 % (2,000)" in free
    other_seed = run(*args, "--seed", "7")
    assert other_seed.stdout != first.stdout
    assert "(seed 7)" in other_seed.stdout


def test_simulate_usage_errors() -> None:
    assert run("simulate", EXAMPLE, "new_search", "--users", "0").returncode == 2
    assert run("simulate", EXAMPLE, "new_search", "--attr", "country").returncode == 2
    assert run("simulate", EXAMPLE, "nope").returncode == 1


# --- scan ---------------------------------------------------------------------------------


def make_project(root: Path) -> Path:
    write(
        root / "app" / "views.py",
        """\
        from app import flags

        def checkout(request):
            if flags.is_enabled("new_checkout"):
                return flags.get_value("button_colour", "blue")
            return flags.variant("new_recommendation_engine")
        """,
    )
    write(root / "app" / "templates" / "page.html", '{% flag "new_search" %}new{% endflag %}\n')
    return root


def test_scan_reports_flag_debt(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    proc = run("scan", project, "--flags", EXAMPLE, "--today", "2027-03-01")
    assert proc.returncode == 1
    out = proc.stdout
    assert out.startswith("Scanned 2 files: 4 references to 3 defined flags")
    assert "button_colour  (did you mean button_color?)" in out
    assert f"{project / 'app' / 'views.py'}:5  get_value()" in out
    assert "new_recommendation_engine  (expired 2027-01-31)" in out
    assert "legacy_export  (owner data-team)" in out
    data = run_json("scan", project, "--flags", EXAMPLE, "--today", "2027-03-01", code=1)
    assert [u["key"] for u in data["undefined"]] == ["button_colour"]
    assert data["undefined"][0]["suggestion"] == "button_color"
    assert [e["key"] for e in data["expired"]] == ["new_recommendation_engine"]
    assert "new_search" not in [u["key"] for u in data["unused"]]
    assert data["reference_count"] == len(data["references"]) == 4
    views = str(project / "app" / "views.py")
    assert {"key": "button_colour", "file": views, "line": 5, "how": "get_value()"} in data["references"]
    assert {r["key"] for r in data["references"]} >= {"button_colour", "new_recommendation_engine"}


def test_scan_exit_codes(tmp_path: Path) -> None:
    flags = write(tmp_path / "flags.yaml", "features:\n  a: true\n  b: false\n")
    write(tmp_path / "src" / "a.py", 'flags.is_enabled("a")\n')
    proc = run("scan", tmp_path / "src", "--flags", flags)
    assert proc.returncode == 0, proc.stdout
    assert "Defined but never used in the scanned code (stale?):\n  b" in proc.stdout
    assert run("scan", tmp_path / "src", "--flags", flags, "--strict").returncode == 1
    write(tmp_path / "src" / "b.py", 'flags.is_enabled("b")\n')
    clean = run("scan", tmp_path / "src", "--flags", flags, "--strict")
    assert clean.returncode == 0
    assert "No flag debt found." in clean.stdout
    assert run("scan", tmp_path / "missing", "--flags", flags).returncode == 2
    assert run("scan", tmp_path / "src").returncode == 2  # --flags is required


# --- schema, demo and the rest ------------------------------------------------------------


def test_schema_prints_the_json_schema(tmp_path: Path) -> None:
    proc = run("schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "Condition" in schema["$defs"]
    assert "features" in schema["properties"]
    out = tmp_path / "flagkit.schema.json"
    assert run("schema", "-o", out).returncode == 0
    assert json.loads(out.read_text()) == schema


def test_demo_on_the_examples() -> None:
    # The demo names the file as it was given, so its output does not depend on where the
    # project lives: 100 columns from a clone at any path.
    proc = run("demo", "examples/features.yaml", cwd=REPO)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0] == "flagkit demo: 12 flags from examples/features.yaml, evaluated for 20 sample users"
    assert max(len(line) for line in lines) <= 100
    for key in FlagSet.from_file(EXAMPLE).flags:
        assert any(line.startswith(key) for line in lines), key
    assert "legacy_export: false for all 20 users (DISABLED)" in lines
    assert any("TARGETING_MATCH" in line and "staff first" in line and "ana, tara" in line for line in lines)
    elsewhere = run("demo", EXAMPLE, cwd=EXAMPLE.parent.parent.parent).stdout  # an absolute path: as given
    assert str(EXAMPLE) in elsewhere.splitlines()[0]
    # All but the closing hint, which names the console script as reachable from the directory.
    assert elsewhere.replace(str(EXAMPLE), "examples/features.yaml").splitlines()[:-1] == lines[:-1]


def test_demo_json_and_the_bundled_default(tmp_path: Path) -> None:
    data = run_json("demo", EXAMPLE)
    assert len(data["users"]) == 20
    assert {r["reason"] for r in data["flags"]["new_checkout"]} == {"STATIC"}
    # Without FILE (and none configured) the demo shows the example flags shipped in the package,
    # the same document as the repository's examples/features.yaml (issue 18).
    bundled = REPO / "flagkit" / "cli" / "demo_features.yaml"
    assert bundled.read_bytes() == EXAMPLE.read_bytes()
    proc = run("demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "flagkit demo: 12 flags from " in proc.stdout.splitlines()[0]
    assert run_json("demo", cwd=tmp_path)["flags"] == data["flags"]


@pytest.mark.slow  # the hint depends on the real console script's PATH, and is run
def test_demo_hint_names_a_command_that_runs(tmp_path: Path) -> None:
    # `make demo` leaves .venv/bin off PATH: the hint must not say a bare `flagkit` then (issue 18).
    path_without = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != SCRIPT.parent
    )
    for path in (path_without, f"{SCRIPT.parent}{os.pathsep}{path_without}"):
        proc = run_process("demo", EXAMPLE, cwd=tmp_path, env={"PATH": path})
        hint = proc.stdout.splitlines()[-1].strip()
        command = shlex.split(hint)
        assert command[1:3] == ["eval", str(EXAMPLE)], hint
        if path == path_without:
            assert command[0] != "flagkit", hint
        else:
            assert command[0] == "flagkit", hint
        ran = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path,
                             env={**os.environ, "PATH": path}, check=False, timeout=120)  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        assert "new_search" in ran.stdout


@pytest.mark.slow  # `python -m flagkit` and the installed entry point, with their exit codes
def test_module_entry_point_help_and_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "flagkit", "--version"], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("flagkit ")
    helped = run_process("--help")
    assert helped.returncode == 0
    for command in ("validate", "eval", "simulate", "scan", "schema", "demo"):
        assert command in helped.stdout
    assert run_process().returncode == 2
    assert run_process("frobnicate").returncode == 2


@pytest.mark.slow  # the encoding of a real process's stdout
def test_output_survives_a_terminal_without_unicode() -> None:
    proc = run_process(
        "eval", EXAMPLE, "new_search", "-c", "user_id=u-003", "--explain", env={"PYTHONIOENCODING": "ascii"}
    )
    assert proc.returncode == 0
    assert "bucket 46,528 of 100,000 (46.528 %) ? off" in proc.stdout


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("false", False),
        ("42", 42),
        ("-7", -7),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("4.0.0", "4.0.0"),
        ('"42"', "42"),
        ("'true'", "true"),
        ("True", "True"),
        ("nan", "nan"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_parse_value(text: str, value: Any) -> None:
    parsed = parse_value(text)
    assert parsed == value
    assert type(parsed) is type(value)


# --- the project's flag file from configuration (issue 18) ---------------------------------

SMALL = """\
features:
  new_checkout: true
  beta:
    rules:
      - serve: {on: 10, off: 90}
"""


def test_flag_file_from_pyproject_from_a_subdirectory(tmp_path: Path) -> None:
    flags = write(tmp_path / "config" / "features.yaml", SMALL)
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "shop"\n\n[tool.flagkit]\nfile = "config/features.yaml"\n',
    )
    sub = tmp_path / "src" / "shop"
    sub.mkdir(parents=True)
    killed = run("kill", "beta", "--dry-run", cwd=sub)
    assert killed.returncode == 0, killed.stderr
    assert "enabled: false" in killed.stdout
    assert run_json("eval", "beta", "-c", "user_id=u-1", cwd=sub)["variant"] in {"on", "off"}
    assert run("validate", cwd=sub).returncode == 0
    assert "../../config/features.yaml" in run("validate", cwd=sub).stdout
    assert run("simulate", "beta", "--users", "100", cwd=sub).returncode == 0
    code = write(sub / "app.py", 'flags.is_enabled("new_checkout")\n')
    assert run("scan", code, cwd=sub).returncode == 0
    # An explicit path still wins over the configuration.
    other = write(tmp_path / "other.yaml", "features:\n  only_here: false\n")
    assert run_json("eval", other, "only_here", cwd=sub)["value"] is False
    assert flags.read_text() == SMALL  # --dry-run wrote nothing


def test_flag_file_from_the_environment_wins_over_pyproject(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.flagkit]\nfile = "missing.yaml"\n')
    env_flags = write(tmp_path / "env.yaml", SMALL)
    proc = run("eval", "new_checkout", "--json", cwd=tmp_path, env={"FLAGKIT_FILE": str(env_flags)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["value"] is True


def test_no_flag_file_anywhere_says_how_to_configure_one(tmp_path: Path) -> None:
    proc = run("kill", "new_checkout", cwd=tmp_path, env={"FLAGKIT_FILE": ""})
    assert proc.returncode == 2
    assert "no flag file given: pass FILE, set $FLAGKIT_FILE" in proc.stderr
    assert "[tool.flagkit]" in proc.stderr
    forgot = run("eval", EXAMPLE.name, cwd=EXAMPLE.parent, env={"FLAGKIT_FILE": ""})
    assert forgot.returncode == 2
    assert "eval: 'features.yaml' looks like the flag file; the flag KEY is missing" in forgot.stderr
    write(tmp_path / "pyproject.toml", "[tool.flagkit]\nfile = 3\n")
    bad = run("validate", cwd=tmp_path, env={"FLAGKIT_FILE": ""})
    assert (bad.returncode, bad.stderr.strip()) == (
        2,
        "flagkit: pyproject.toml: [tool.flagkit] file must be a path (a string)",
    )


def test_a_missing_flag_file_suggests_the_one_beside_it_and_says_who_named_it(tmp_path: Path) -> None:
    # As Flags.from_file does (issue 18): `features.yml` for the `features.yaml` beside it, on
    # every command; a configured path also says where it was configured.
    write(tmp_path / "config" / "features.yaml", SMALL)
    meant = "did you mean 'config/features.yaml'?"
    reads = (("validate", "config/features.yml"), ("eval", "config/features.yml", "beta"))
    edits = (("kill", "config/features.yml", "beta"), ("set", "config/features.yml", "beta", "on"))
    for args in (*reads, *edits):
        proc = run(*args, cwd=tmp_path, env={"FLAGKIT_FILE": ""})
        assert (proc.returncode, proc.stderr.strip()) == (
            2,
            f"flagkit: config/features.yml: no such file; {meant}",
        )
    from_env = {"FLAGKIT_FILE": "config/features.yml"}
    for args in (("validate",), ("eval", "beta"), ("kill", "beta"), ("simulate", "beta"), ("demo",)):
        proc = run(*args, cwd=tmp_path, env=from_env)
        assert proc.returncode == 2, proc.stderr
        assert (
            proc.stderr.strip() == f"flagkit: config/features.yml: no such file; {meant} (from $FLAGKIT_FILE)"
        )
    write(tmp_path / "pyproject.toml", '[tool.flagkit]\nfile = "config/features.yml"\n')
    sub = tmp_path / "src"
    sub.mkdir()
    proc = run("kill", "beta", "--json", cwd=sub, env={"FLAGKIT_FILE": ""})
    message = (
        "../config/features.yml: no such file; did you mean '../config/features.yaml'? "
        "(from file in ../pyproject.toml [tool.flagkit])"
    )
    assert (proc.returncode, proc.stderr.strip()) == (2, f"flagkit: {message}")
    assert json.loads(proc.stdout) == {"error": message, "exit_code": 2}


# --- usage errors under --json, arguments checked first (issue 18) --------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("validate", "--json", "--bogus"),
        ("eval", "--json", EXAMPLE, "new_search", "-c", "novalue"),
        ("simulate", "--json", EXAMPLE, "new_search", "--users", "0"),
        ("validate", "--json", EXAMPLE, "--usage", EXAMPLE, "--stale-days", "0"),
    ],
)
def test_argument_errors_under_json_are_json(args: tuple[str | Path, ...]) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    data = json.loads(proc.stdout)
    assert data["exit_code"] == 2
    assert data["error"]
    assert data["error"] in proc.stderr  # argparse's usage text stays on stderr
    assert "usage: flagkit" in proc.stderr


def test_one_simulated_user_is_singular(tmp_path: Path) -> None:
    # "1 flags", "1 subscribers" were fixed (issue 18); simulate and diff said "1 simulated users".
    new = write(tmp_path / "new.yaml", SMALL.replace("{on: 10, off: 90}", "{on: 20, off: 80}"))
    sim = run("simulate", EXAMPLE, "new_search", "--users", "1")
    assert sim.stdout.splitlines()[0] == "new_search: 1 simulated user (seed 0)", sim.stderr
    old = write(tmp_path / "old.yaml", SMALL)
    diff = run("diff", old.name, new.name, "--users", "1", cwd=tmp_path)
    assert diff.stdout.splitlines()[0] == "old.yaml → new.yaml (1 simulated user, seed 0)", diff.stderr


def test_set_with_a_file_and_a_key_says_the_value_is_missing(tmp_path: Path) -> None:
    # `flagkit set FILE KEY` (VALUE forgotten) said "the flag KEY is missing", the KEY being there.
    write(tmp_path / "features.yaml", SMALL)
    proc = run("set", "features.yaml", "new_checkout", cwd=tmp_path, env={"FLAGKIT_FILE": ""})
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        "flagkit: set: 'features.yaml' looks like the flag file and 'new_checkout' the flag KEY; "
        "the VALUE is missing",
    )


def test_rollout_with_a_file_and_a_key_says_the_percent_may_be_missing(tmp_path: Path) -> None:
    # `flagkit rollout FILE KEY` (PERCENT forgotten) said only "expected a percentage ..., got
    # 'new_checkout'", naming the key as if it were a bad percentage.
    write(tmp_path / "features.yaml", SMALL)
    proc = run("rollout", "features.yaml", "new_checkout", cwd=tmp_path, env={"FLAGKIT_FILE": ""})
    assert proc.returncode == 2
    assert "got 'new_checkout' (is PERCENT missing? the arguments are [FILE] KEY PERCENT)" in proc.stderr


def test_demo_help_names_the_configured_file_first() -> None:
    # The demo shows the configured flag file before the bundled one; its --help said only the latter.
    help_text = " ".join(run("demo", "--help").stdout.split())
    assert "default: $FLAGKIT_FILE, else `file` in [tool.flagkit] of pyproject.toml, else the" in help_text


def test_every_error_under_json_prints_json_on_stdout() -> None:
    # `simulate` of an unknown key printed only stderr under --json: a script got no JSON.
    proc = run("simulate", EXAMPLE, "new_serch", "--json")
    assert proc.returncode == 1
    message = f"flag 'new_serch' is not defined in {EXAMPLE} (did you mean 'new_search'?)"
    assert json.loads(proc.stdout) == {"error": message, "exit_code": 1}
    assert proc.stderr.strip() == message


@pytest.mark.parametrize("days", [("--stale-days", "0"), ("--stale-days", "3")])
def test_validate_checks_its_arguments_before_reporting(days: tuple[str, str]) -> None:
    # `--stale-days 0`, or a days option without --usage: refused before a line of the report.
    proc = run("validate", EXAMPLE, *days)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "ok (" not in proc.stderr


def test_main_in_process_leaves_the_callers_clock_and_gc_as_they_were(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `python manage.py flagkit eval ... --now T` runs main() inside the Django process, and so
    # does call_command(): the fixed clock stayed in `now` conditions, and GC stayed off.
    import gc

    from flagkit import flagset
    from flagkit.cli import _common, main

    clock, fixed = flagset.now, _common.FIXED_NOW
    assert gc.isenabled()
    args = ["eval", str(EXAMPLE), "holiday_banner", "--now", "2026-12-24T12:00:00Z", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["value"] == "Winter sale!"
    assert (flagset.now, _common.FIXED_NOW, gc.isenabled()) == (clock, fixed, True)
    with Flags.from_file(EXAMPLE, watch=False) as flags:  # a later evaluation reads the real clock
        assert flags.explain("holiday_banner").rules[0].condition.value != 1798113600.0  # type: ignore[union-attr]
