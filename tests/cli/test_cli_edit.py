"""``flagkit set/kill/revive/rollout``: the real console script editing real files in place."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from flagkit import FlagSet
from tests.cli.runner import COMMAND, REPO, run

COMMENTED = """\
# Flags of the shop. Owned by the platform team; ask in #flags.
segments:
  staff: {email: {ends_with: "@example.com"}}   # flow mapping, trailing comment

features:
  # --- static flags ---
  new_checkout: true          # aligned comment
  'support_email': 'help@example.com'
  max_upload_mb: 25
  banner_text: "Hello, world"

  # Search rewrite: ramping up.
  new_search:
    # who to ask
    owner: search-team
    description: >-
      Rewritten search backend,
      folded over two lines.
    rules:
      - name: staff first
        when: {segment: staff}
        serve: on
      - name: ten percent     # the rollout
        serve:
          on: 10              # percent
          off: 90

  checkout_theme: {variants: {light: 1, dark: 2}, default: light, rules: [{serve: {dark: 5, light: 95}}]}

  legacy_export:
    enabled: false   # killed 2026-11-30, see INC-42
    rules:
      - serve: on
"""

JSON_INDENTED = """{
  "features": {
    "new_search": {
      "description": "Rewritten search",
      "rules": [
        {"name": "rollout", "serve": {"on": 10, "off": 90}}
      ]
    },
    "max_upload_mb": 25
  }
}
"""

JSON_TABS = (
    '{\n\t"features": {\n\t\t"new_search": {\n\t\t\t"owner": "search",\n'
    + '\t\t\t"default": "off"\n\t\t}\n\t}\n}\n'
)
JSON_ONE_LINE = '{"features": {"new_search": {"rules": [{"serve": {"off": 90, "on": 10}}]}, "x": "a\\"b"}}'


def edit(tmp_path: Path, name: str, text: str, *args: str, newline: str = "\n") -> tuple[Path, str]:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode())
    proc = run(*args[:1], path, *args[1:])
    assert proc.returncode == 0, proc.stderr
    return path, proc.stdout


def loads(path: Path) -> FlagSet:
    return FlagSet.from_file(path)


# --- bytes of untouched lines stay identical ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "old", "new"),
    [
        (("kill", "new_search"), "  new_search:\n", "  new_search:\n    enabled: false\n"),
        (("revive", "legacy_export"), "enabled: false   # killed", "enabled: true   # killed"),
        (
            ("rollout", "new_search", "25"),
            "on: 10              # percent\n          off: 90\n",
            "on: 25              # percent\n          off: 75\n",
        ),
        (("rollout", "checkout_theme", "12.5"), "{dark: 5, light: 95}", "{dark: 12.5, light: 87.5}"),
        (("set", "support_email", "ops@example.com"), "'help@example.com'", "'ops@example.com'"),
        (("set", "banner_text", "Hi: there"), '"Hello, world"', '"Hi: there"'),
        (("set", "max_upload_mb", "50"), "max_upload_mb: 25", "max_upload_mb: 50"),
        (("set", "new_checkout", "false"), "new_checkout: true", "new_checkout: false"),
        (("set", "checkout_theme", "dark"), "default: light", "default: dark"),
        (("set", "new_search", "on"), "  new_search:\n", "  new_search:\n    default: on\n"),
        (("kill", "checkout_theme", "--force"), "{variants:", "{enabled: false, variants:"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, tuple) else None,
)
def test_yaml_edit_changes_only_its_span(tmp_path: Path, args: tuple[str, ...], old: str, new: str) -> None:
    assert COMMENTED.count(old) == 1
    expected = COMMENTED.replace(old, new)
    path, _ = edit(tmp_path, "flags.yaml", COMMENTED, args[0], *args[1:])
    assert path.read_text() == expected
    loads(path)


def test_crlf_file_keeps_crlf_and_inserted_lines_use_it(tmp_path: Path) -> None:
    path, _ = edit(tmp_path, "flags.yaml", COMMENTED, "kill", "new_search", newline="\r\n")
    data = path.read_bytes()
    assert (
        data
        == COMMENTED.replace("  new_search:\n", "  new_search:\n    enabled: false\n")
        .replace("\n", "\r\n")
        .encode()
    )


def test_inserted_key_goes_above_the_comment_of_the_first_key(tmp_path: Path) -> None:
    path, _ = edit(tmp_path, "flags.yaml", COMMENTED, "kill", "new_search")
    assert "  new_search:\n    enabled: false\n    # who to ask\n    owner: search-team\n" in path.read_text()


@pytest.mark.parametrize(
    ("text", "args", "old", "new"),
    [
        (JSON_INDENTED, ("rollout", "new_search", "30"), '{"on": 10, "off": 90}', '{"on": 30, "off": 70}'),
        (JSON_INDENTED, ("kill", "new_search"), '{\n      "desc', '{\n      "enabled": false,\n      "desc'),
        (JSON_INDENTED, ("set", "max_upload_mb", "7"), '"max_upload_mb": 25', '"max_upload_mb": 7'),
        (JSON_TABS, ("set", "new_search", "on"), '"default": "off"', '"default": "on"'),
        (JSON_TABS, ("kill", "new_search"), '{\n\t\t\t"owner"', '{\n\t\t\t"enabled": false,\n\t\t\t"owner"'),
        (JSON_ONE_LINE, ("rollout", "new_search", "0.5"), '"off": 90, "on": 10', '"off": 99.5, "on": 0.5'),
        (JSON_ONE_LINE, ("kill", "new_search"), '{"rules"', '{"enabled": false, "rules"'),
        (JSON_ONE_LINE, ("set", "x", '"c\\d"'), '"a\\"b"', '"c\\\\d"'),
    ],
)
def test_json_edit_changes_only_its_span(
    tmp_path: Path, text: str, args: tuple[str, ...], old: str, new: str
) -> None:
    assert text.count(old) == 1
    path, _ = edit(tmp_path, "flags.json", text, *args)
    assert path.read_text() == text.replace(old, new)
    loads(path)


def test_empty_flow_mapping_gets_the_key_inside_the_braces(tmp_path: Path) -> None:
    path, _ = edit(tmp_path, "f.yaml", "features:\n  a: {}  # nothing yet\n", "kill", "a")
    assert path.read_text() == "features:\n  a: {enabled: false}  # nothing yet\n"


def test_quoted_sibling_keys_make_the_new_key_quoted(tmp_path: Path) -> None:
    text = 'features:\n  a:\n    "owner": "x"\n    "rules": [{"serve": "on"}]\n'
    path, _ = edit(tmp_path, "f.yaml", text, "kill", "a")
    assert path.read_text() == text.replace("  a:\n", '  a:\n    "enabled": false\n')


def test_the_running_value_really_changes(tmp_path: Path) -> None:
    path, _ = edit(tmp_path, "flags.yaml", COMMENTED, "kill", "new_search")
    flag = loads(path).flags["new_search"]
    assert flag.resolve({"user_id": "u-1", "email": "a@example.com"}, {})[2] == "DISABLED"


# --- no-ops, refusals, exit codes, --json, --dry-run ----------------------------------------


def test_noop_edit_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(COMMENTED)
    before = path.stat()
    proc = run("kill", path, "legacy_export")
    assert proc.returncode == 0
    assert "already disabled" in proc.stdout
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert path.stat().st_ino == before.st_ino


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("kill", "new_serch"), "did you mean 'new_search'"),
        (("kill", "max_upload_mb"), "static flag"),
        (("set", "max_upload_mb", "lots"), "is a number flag"),
        (("set", "checkout_theme", "purple"), "not a variant of checkout_theme (variants: light, dark)"),
        (("rollout", "legacy_export", "5"), "has no percentage split"),
        (("rollout", "new_search", "5", "--rule", "nope"), "has no rule 'nope'"),
        (("rollout", "new_search", "5", "--rule", "staff first"), "not a percentage split"),
    ],
)
def test_refusals_exit_1_and_write_nothing(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(COMMENTED)
    proc = run(args[0], path, *args[1:])
    assert proc.returncode == 1
    assert message in proc.stderr
    assert path.read_text() == COMMENTED


def test_multi_variant_split_is_refused_with_advice(tmp_path: Path) -> None:
    text = (
        "features:\n  e:\n    variants: {a: 1, b: 2, c: 3}\n    default: a\n"
        "    rules:\n      - serve: {a: 50, b: 25, c: 25}\n"
    )
    path = tmp_path / "f.yaml"
    path.write_text(text)
    proc = run("rollout", path, "e", "10")
    assert proc.returncode == 1
    assert "has 3 variants (a, b, c); rollout changes two-variant splits only" in proc.stderr
    text2 = text.replace("{a: 1, b: 2, c: 3}", "{x: 1, y: 2}").replace("default: a", "default: x")
    path.write_text(text2.replace("{a: 50, b: 25, c: 25}", "{x: 50, y: 50}"))
    assert run("rollout", path, "e", "10").returncode == 0
    assert "{x: 90, y: 10}" in path.read_text()  # the non-default variant gets the percentage
    assert run("rollout", path, "e", "10", "--variant", "x").returncode == 0
    assert "{x: 10, y: 90}" in path.read_text()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("kill", tmp_path / "missing.yaml", "x").returncode == 2
    path = tmp_path / "f.yaml"
    path.write_text(COMMENTED)
    proc = run("rollout", path, "new_search", "101")
    assert proc.returncode == 2
    assert "between 0 and 100" in proc.stderr
    assert run("rollout", path, "new_search", "1.0005").returncode == 2


def test_invalid_file_is_not_edited(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("features:\n  a:\n    default: nope\n")
    proc = run("kill", path, "a")
    assert proc.returncode == 1
    assert "not a valid flag file" in proc.stderr
    assert path.read_text() == "features:\n  a:\n    default: nope\n"


def test_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("features:\n  a: &b {rules: [{serve: on}]}\n  c: *b\n")
    proc = run("kill", path, "c")
    assert proc.returncode == 1
    assert "alias" in proc.stderr


def test_dry_run_prints_a_unified_diff_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(COMMENTED)
    proc = run("rollout", path, "new_search", "25", "--dry-run")
    assert proc.returncode == 0
    assert f"--- a/{path}\n+++ b/{path}\n" in proc.stdout
    assert "\n-          on: 10              # percent\n" in proc.stdout
    assert "\n+          on: 25              # percent\n" in proc.stdout
    assert "(dry run: nothing written)" in proc.stdout
    assert path.read_text() == COMMENTED


def test_json_output(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(COMMENTED)
    proc = run("kill", path, "new_search", "--json", "--dry-run")
    data = json.loads(proc.stdout)
    assert data["changed"] is True
    assert data["written"] is False
    assert data["changes"] == [
        {"path": "features.new_search.enabled", "before": None, "after": False, "added": True}
    ]
    assert "+    enabled: false\n" in data["diff"]
    proc = run("kill", path, "nope", "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["error"].startswith("flag 'nope' is not defined")


@pytest.mark.slow  # real processes (a paused editor)
def test_permissions_are_kept_and_symlink_target_is_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text(COMMENTED)
    real.chmod(0o640)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    assert run("kill", link, "new_search").returncode == 0
    assert link.is_symlink()
    assert (real.stat().st_mode & 0o777) == 0o640
    assert "enabled: false" in real.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".flagkit-tmp")]


# --- concurrency and crash safety -----------------------------------------------------------


def _paused(tmp_path: Path, path: Path, *args: str) -> tuple[subprocess.Popen[str], Path]:
    fifo = tmp_path / "pause.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [*COMMAND, args[0], str(path), *args[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "FLAGKIT_TEST_PAUSE_BEFORE_RENAME": str(fifo)},
    )
    return proc, fifo


def _open_when_waiting(fifo: Path, proc: subprocess.Popen[str]) -> int:
    """Open the FIFO for writing once the editor has opened it for reading (it is at the pause)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.01)


@pytest.mark.slow  # a real editor process, paused
def test_refuses_when_the_file_changed_since_it_was_read(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(COMMENTED)
    proc, fifo = _paused(tmp_path, path, "kill", "new_search")
    fd = _open_when_waiting(fifo, proc)
    theirs = COMMENTED.replace("max_upload_mb: 25", "max_upload_mb: 30")
    path.write_text(theirs)  # a colleague saves the file while flagkit is editing it
    os.close(fd)
    _out, err = proc.communicate(timeout=60)  # reads to the end and closes the pipes
    assert proc.returncode == 1
    assert "changed while flagkit was editing it" in err
    assert path.read_text() == theirs  # their edit is kept, ours is not applied
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".flagkit-tmp")]


@pytest.mark.slow  # a real process killed with SIGKILL
def test_kill_9_between_write_and_rename_leaves_the_original_intact(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_bytes(COMMENTED.encode())
    proc, fifo = _paused(tmp_path, path, "rollout", "new_search", "50")
    fd = _open_when_waiting(fifo, proc)
    try:
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".flagkit-tmp")]
        assert len(temps) == 1  # written and fsynced, waiting before the rename
        assert "on: 50" in temps[0].read_text()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        os.close(fd)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == COMMENTED.encode()
    assert loads(path).flags["new_search"].definition.rules[1].serve == {"on": 10, "off": 90}  # type: ignore[union-attr]
    # The stray temporary file is ignored: the next edit works and leaves only the new file.
    assert run("rollout", path, "new_search", "50").returncode == 0
    assert "on: 50" in path.read_text()


OFF_VARIANT = """\
features:
  theme:
    variants: {winter: w, none: n, summer: s}
    default: winter
    off_variant: none
    rules:
      - when: {country: US}
        serve: summer
  legacy:
    default: code_default
    rules:
      - serve: {on: 10, off: 90}
"""


def test_notes_name_what_a_killed_flag_really_serves(tmp_path: Path) -> None:
    """``kill`` and ``set`` say what ``eval`` will then serve: the off_variant when there is one,
    the caller's default for code_default, else the default variant."""
    path = tmp_path / "flags.yaml"
    path.write_text(OFF_VARIANT)
    proc = run("kill", path, "theme")
    assert proc.returncode == 0, proc.stderr
    assert "everyone now gets the off variant 'none' (\"n\"), reason DISABLED" in proc.stdout
    assert "variant  none" in run("eval", path, "theme", "-c", "country=US").stdout
    proc = run("set", path, "theme", "summer")
    assert "theme is killed: everyone now gets the off variant 'none'" in proc.stdout
    run("revive", path, "theme")
    proc = run("set", path, "theme", "winter")
    assert "`flagkit kill` would serve the off variant 'none'" in proc.stdout
    proc = run("kill", path, "legacy")  # a boolean flag: off, whatever its default
    assert "everyone now gets the false variant 'off' (false), reason DISABLED" in proc.stdout
    proc = run("kill", path, "legacy", "--serve", "code_default")
    assert "everyone now gets the default the calling code passes (the off variant is code_default)" in (
        proc.stdout
    )


def test_set_refuses_a_decimal_for_an_integer_flag(tmp_path: Path) -> None:
    """``get_value("limit", 10)`` would get its default for 12.5 (a type mismatch); an int for a
    float flag is fine (it is widened)."""
    path = tmp_path / "flags.yaml"
    path.write_text("features:\n  limit: 10  # per user\n  ratio: 0.5\n")
    for value in ("12.5", "12.0"):
        proc = run("set", path, "limit", value)
        assert proc.returncode == 1, proc.stdout
        assert "limit is an integer flag" in proc.stderr
    assert path.read_text() == "features:\n  limit: 10  # per user\n  ratio: 0.5\n"
    assert run("set", path, "ratio", "2").returncode == 0
    assert run("set", path, "limit", "12.5", "--force").returncode == 0
    assert path.read_text() == "features:\n  limit: 12.5  # per user\n  ratio: 2\n"


def test_set_accepts_code_default_as_the_default(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text("features:\n  flow:\n    variants: {a: 1, b: 2}\n    default: a\n")
    proc = run("set", path, "flow", "code_default")
    assert proc.returncode == 0, proc.stderr
    assert FlagSet.from_file(path).flags["flow"].default_variant == "code_default"
    assert "reason   DEFAULT" in run("eval", path, "flow").stdout


def test_a_usage_error_is_json_on_stdout_with_json(tmp_path: Path) -> None:
    for args in (("set", tmp_path / "missing.yaml", "a", "1"), ("validate", tmp_path / "missing.yaml")):
        proc = run(*args, "--json")
        assert proc.returncode == 2
        assert json.loads(proc.stdout) == {"error": f"{args[1]}: no such file", "exit_code": 2}
        assert "no such file" in proc.stderr


# --- what "off" means (issue 16) ---------------------------------------------------------

DEFAULT_ON = """\
features:
  search:
    default: on   # most users have it
    rules:
      - when: {country: XX}
        serve: off
  theme:
    variants: {winter: w, summer: s}
    default: winter
  retries:
    variants: {none: 0, some: 3}
    default: none
"""


def _share_on(path: Path, key: str) -> float:
    data = json.loads(
        run("simulate", path, key, "--users", "200", "--attr", "country=XX,FR", "--json").stdout
    )
    return sum(v["share"] for v in data["variants"] if v["value"] is True)


def test_kill_switches_a_default_on_boolean_flag_off(tmp_path: Path) -> None:
    """``kill`` of a boolean flag whose default is on turns it off for everyone, and says so."""
    path = tmp_path / "flags.yaml"
    path.write_text(DEFAULT_ON)
    assert _share_on(path, "search") == 0.5
    proc = run("kill", path, "search")
    assert proc.returncode == 0, proc.stderr
    assert "note: everyone now gets the false variant 'off' (false), reason DISABLED" in proc.stdout
    assert _share_on(path, "search") == 0.0
    assert "search = false" in run("eval", path, "search", "-c", "country=FR").stdout
    assert "switched off" in run("eval", path, "search", "--explain").stdout


def test_kill_refuses_a_flag_with_no_obvious_off(tmp_path: Path) -> None:
    """A flag of strings without off_variant would serve its (truthy) default: kill says what
    everyone would get and asks for --serve or --force; a false-like default is plainly off."""
    path = tmp_path / "flags.yaml"
    path.write_text(DEFAULT_ON)
    proc = run("kill", path, "theme")
    assert proc.returncode == 1
    assert "it would serve the default variant 'winter' (\"w\") to everyone" in proc.stderr
    assert "--serve VARIANT (winter, summer, code_default)" in proc.stderr
    assert path.read_text() == DEFAULT_ON
    proc = run("kill", path, "theme", "--serve", "summer")
    assert proc.returncode == 0, proc.stderr
    assert "everyone now gets the off variant 'summer' (\"s\"), reason DISABLED" in proc.stdout
    assert 'theme = "s"' in run("eval", path, "theme").stdout
    assert "off_variant: summer" in path.read_text()
    assert run("kill", path, "theme", "--serve", "nope").returncode == 1
    path.write_text(DEFAULT_ON)
    proc = run("kill", path, "theme", "--force")
    assert proc.returncode == 0, proc.stderr
    assert "everyone now gets the default variant 'winter' (\"w\"), reason DISABLED" in proc.stdout
    proc = run("kill", path, "theme")  # already killed: nothing to change, and it says what is served
    assert proc.returncode == 0, proc.stderr
    assert "theme is already disabled (killed); nothing to change" in proc.stdout
    assert 'not an obvious "off": `--serve VARIANT`' in proc.stdout
    proc = run("kill", path, "retries")  # 0: plainly off
    assert proc.returncode == 0, proc.stderr
    assert "everyone now gets the default variant 'none' (0), reason DISABLED" in proc.stdout


def test_revive_says_that_the_off_variant_of_kill_serve_stays(tmp_path: Path) -> None:
    """``kill --serve`` writes ``off_variant``; ``revive`` only sets ``enabled: true``, so the
    round trip leaves the off variant behind, and it still decides what a failed prerequisite
    or a tripped guard serves. ``revive`` says so instead of implying the kill was undone."""
    path = tmp_path / "flags.yaml"
    path.write_text(
        "features:\n  gate: {default: on}\n  theme:\n    requires: [gate]\n"
        "    variants: {winter: w, summer: s}\n    default: winter\n"
    )
    assert run("kill", path, "theme", "--serve", "summer").returncode == 0
    proc = run("revive", path, "theme")
    assert proc.returncode == 0, proc.stderr
    assert "off_variant 'summer' stays" in proc.stdout
    assert "a failed prerequisite or a tripped guard" in proc.stdout
    assert run("kill", path, "gate").returncode == 0  # the prerequisite fails: summer, not winter
    assert 'theme = "s"' in run("eval", path, "theme").stdout


def test_set_says_when_no_user_can_reach_the_default(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(
        "features:\n  a:\n    rules:\n      - name: all\n        serve: {on: 10, off: 90}\n"
        "  b:\n    variants: {x: 1, y: 2}\n    default: x\n"
        "    rules: [{when: {c: 1}, serve: y}, {serve: y}]\n"
    )
    proc = run("set", path, "a", "on")
    assert proc.returncode == 0, proc.stderr
    # the split places every context with a user id; one without gets the default
    assert "rule 'all' has no `when`: its split serves everyone it can place" in proc.stdout
    assert "a = true" in run("eval", path, "a").stdout
    proc = run("set", path, "b", "y")
    assert "no user gets 'y' as the default: rule 'rules[1]' has no `when`" in proc.stdout
    assert "it is served only while the flag is switched off" in proc.stdout


def test_set_sees_a_rule_with_a_null_when_as_catching_everyone(tmp_path: Path) -> None:
    """``when: null`` (or ``~``) is no condition: the rule catches everyone, as a rule without
    ``when`` does, so the new default reaches nobody and ``set`` says so."""
    path = tmp_path / "flags.yaml"
    path.write_text(
        "features:\n  c:\n    variants: {x: 1, y: 2, z: 3}\n    default: x\n"
        "    rules:\n      - name: all\n        when: ~\n        serve: y\n"
    )
    proc = run("set", path, "c", "z")
    assert proc.returncode == 0, proc.stderr
    assert "no user gets 'z' as the default: rule 'all' has no `when`" in proc.stdout
    assert "goes to everyone no rule matches" not in proc.stdout
    assert "c = 2" in run("eval", path, "c", "-c", "user_id=u1").stdout


def test_set_behind_a_catch_all_split_names_who_still_gets_the_default(tmp_path: Path) -> None:
    """A split that catches everyone cannot place a context without its bucketing attribute
    (an anonymous request): that context gets the default (reason DEFAULT). ``set`` must not
    say that no user gets it."""
    path = tmp_path / "flags.yaml"
    path.write_text(
        "features:\n  color:\n    variants: {blue: b, red: r, green: g}\n    default: blue\n"
        "    rules:\n      - name: everyone split\n        serve: {blue: 50, red: 50}\n"
    )
    proc = run("set", path, "color", "green")
    assert proc.returncode == 0, proc.stderr
    assert "no user gets" not in proc.stdout
    assert "only a context without the split's bucketing attribute gets 'green'" in proc.stdout
    assert 'color = "g"' in run("eval", path, "color").stdout  # no targeting_key: the default
    # The launchdarkly scheme puts such a context in bucket 0: then nobody gets the default.
    path.write_text(
        "features:\n  color:\n    variants: {blue: b, red: r, green: g}\n    default: blue\n"
        "    bucketing: launchdarkly\n"
        "    rules:\n      - name: everyone split\n        serve: {blue: 50, red: 50}\n"
    )
    proc = run("set", path, "color", "green")
    assert proc.returncode == 0, proc.stderr
    assert "no user gets 'green' as the default: rule 'everyone split' has no `when`" in proc.stdout
    assert 'color = "g"' not in run("eval", path, "color").stdout


# --- anchors and aliases: an edit never widens (issue 16) ------------------------------------

ANCHORED = {
    "flag": "features:\n  a: &x {default: off, rules: [{serve: on}]}\n  b: *x\n",
    "split": (
        "features:\n  a:\n    rules:\n      - serve: &split {on: 10, off: 90}\n"
        "  b:\n    rules:\n      - serve: *split\n"
    ),
    "rules": "features:\n  a:\n    rules: &r\n      - serve: {on: 10, off: 90}\n  b:\n    rules: *r\n",
    "scalar": "features:\n  a: {default: &d on, enabled: &e true}\n  b: {default: *d, enabled: *e}\n",
    "static": "features:\n  a: &v true\n  b: *v\n",
    "killed": "features:\n  a: {enabled: &e false, default: off}\n  b: {enabled: *e}\n",
    "merge": (
        "features:\n  a: &base\n    default: off\n    enabled: true\n"
        "    rules: [{serve: {on: 10, off: 90}}]\n"
        "  b:\n    <<: *base\n    description: like a\n"
    ),
}


@pytest.mark.parametrize(
    ("layout", "args"),
    [
        ("flag", ("kill", "a")),
        ("flag", ("kill", "b")),
        ("flag", ("set", "a", "on")),
        ("split", ("rollout", "a", "50")),
        ("split", ("rollout", "b", "50")),
        ("rules", ("rollout", "a", "50")),
        ("scalar", ("set", "a", "off")),
        ("scalar", ("kill", "a")),
        ("scalar", ("kill", "b")),
        ("static", ("set", "a", "false")),
        ("killed", ("revive", "a")),
        ("merge", ("kill", "a", "--serve", "off")),
        ("merge", ("rollout", "a", "50")),
        ("merge", ("set", "a", "on")),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, tuple) else v,
)
def test_an_anchor_is_refused_where_it_is_written_too(
    tmp_path: Path, layout: str, args: tuple[str, ...]
) -> None:
    """Editing the anchor's owner would edit every alias of it: refused, like the alias."""
    text = ANCHORED[layout]
    path = tmp_path / "flags.yaml"
    path.write_text(text)
    before = {key: loads(path).flags[key].resolve({"targeting_key": "u1"}, {}) for key in ("a", "b")}
    proc = run(args[0], path, *args[1:])
    assert proc.returncode == 1, proc.stdout
    assert "shared through a YAML anchor" in proc.stderr or "a YAML anchor `&` with" in proc.stderr, (
        proc.stderr
    )
    assert path.read_text() == text
    assert {key: loads(path).flags[key].resolve({"targeting_key": "u1"}, {}) for key in ("a", "b")} == before


def test_a_flag_that_merges_an_anchor_is_edited_alone(tmp_path: Path) -> None:
    """``b: {<<: *base}`` is b's own mapping: killing b adds b's own key and leaves a alone."""
    path = tmp_path / "flags.yaml"
    path.write_text(ANCHORED["merge"])
    proc = run("kill", path, "b")
    assert proc.returncode == 0, proc.stderr
    flags = loads(path)
    assert flags.flags["b"].definition.enabled is False  # type: ignore[union-attr]
    assert flags.flags["a"].definition.enabled is True  # type: ignore[union-attr]


@pytest.mark.slow  # a real editor process, paused
def test_the_pre_write_check_sees_a_change_to_an_alias(tmp_path: Path) -> None:
    """Second line of defence: a plan whose span also changes an alias (as the owner's span
    did before) fails the check against an expected document in which aliases are separate."""
    from flagkit.cli._editing import EditPlan, Refused, _check, _load_context

    path = tmp_path / "flags.yaml"
    path.write_text(ANCHORED["scalar"])
    context, _original = _load_context(str(path))
    start = context.text.index("true")

    def mutate(doc: dict[str, object]) -> None:
        doc["features"]["a"]["enabled"] = False  # type: ignore[index]

    plan = EditPlan([(start, start + len("true"), "false")], mutate)
    with pytest.raises(Refused, match="change more than the values asked for"):
        _check(context, plan, context.text[:start] + "false" + context.text[start + 4 :])


# --- concurrent editors: no change is lost (issue 16) ----------------------------------------

RACERS = 4
RACE_ROUNDS = 10


def _race_round(tmp_path: Path, path: Path, round_no: int) -> list[tuple[int, str]]:
    """Start RACERS ``flagkit kill`` of different flags of ``path`` at once. Each pauses at the
    pre-rename hook (its own FIFO); the ones that reach it are released together, so their
    check-and-rename steps run at the same moment: without the lock, several read the same
    version and pass the check before any of them renames."""
    fifos = [tmp_path / f"pause-{round_no}-{i}.fifo" for i in range(RACERS)]
    for fifo in fifos:
        os.mkfifo(fifo)
    procs = [
        subprocess.Popen(
            [*COMMAND, "kill", str(path), f"f{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "FLAGKIT_TEST_PAUSE_BEFORE_RENAME": str(fifo)},
        )
        for i, fifo in enumerate(fifos)
    ]
    released: set[int] = set()
    deadline = time.monotonic() + 120
    while len(released) < RACERS:
        assert time.monotonic() < deadline, "the racing editors did not finish"
        waiting: dict[int, int] = {}
        quiet_since = time.monotonic()
        # Gather the editors at the pause: until every live one is there, or none arrives for
        # a moment (the others wait for the lock). Timing here only widens the race window.
        while time.monotonic() - quiet_since < 0.2:
            for i, fifo in enumerate(fifos):
                if i in released or i in waiting:
                    continue
                if procs[i].poll() is not None:
                    released.add(i)  # exited before the pause (refused, or nothing to write)
                    continue
                try:
                    waiting[i] = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                    quiet_since = time.monotonic()
                except OSError as exc:
                    if exc.errno != errno.ENXIO:
                        raise
            live = [i for i in range(RACERS) if i not in released]
            if live and all(i in waiting for i in live):
                break
            time.sleep(0.005)
        for i, fd in waiting.items():  # release them together
            os.close(fd)
            released.add(i)
    errors = [proc.communicate(timeout=120)[1] for proc in procs]
    return [(proc.returncode, err) for proc, err in zip(procs, errors, strict=True)]


@pytest.mark.slow  # real processes racing
def test_racing_editors_never_lose_a_change(tmp_path: Path) -> None:
    """Four ``flagkit kill`` of one file at once, many rounds: every one waits for the edit
    lock, so each is written and each kill is in the file (before the lock, some exited 0
    "written" while their kill was lost, others were refused)."""
    text = "features:\n" + "".join(f"  f{i}:\n    rules:\n      - serve: on\n" for i in range(RACERS))
    path = tmp_path / "flags.yaml"
    for round_no in range(RACE_ROUNDS):
        path.write_text(text)
        results = _race_round(tmp_path, path, round_no)
        flags = loads(path)
        for i, (code, err) in enumerate(results):
            killed = flags.flags[f"f{i}"].definition.enabled is False  # type: ignore[union-attr]
            assert not (code == 0 and not killed), f"round {round_no}: f{i} written, then lost"
            assert code == 0, f"round {round_no}: f{i}: {err}"  # it waited for the lock
            assert killed
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".flagkit-tmp")]


def test_the_edit_lock_is_bounded_and_names_the_directory(tmp_path: Path) -> None:
    """An edit waits for the lock of the file's directory, but not for ever."""
    import fcntl

    from flagkit.cli._write import WriteError, edit_lock

    path = tmp_path / "flags.yaml"
    path.write_text("features: {a: true}\n")
    held = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # another editor holds it
        message = re.escape(f"another flagkit edit in {tmp_path} has held its lock")
        with (
            pytest.raises(WriteError, match=message),
            edit_lock(str(path), timeout=0.05),
        ):
            pass
        fcntl.flock(held, fcntl.LOCK_UN)
        with edit_lock(str(path), timeout=0.05):
            pass
    finally:
        os.close(held)
