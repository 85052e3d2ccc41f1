"""Finding flag keys in code and templates, and the flag-debt report."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest

from flagkit import FlagSet
from flagkit.cli.scan import Reference, debt_report, scan_paths, scan_python, scan_template


def keys(refs: list[Reference]) -> list[tuple[str | None, int, str]]:
    return [(r.key, r.line, r.how) for r in refs]


def test_client_calls_and_decorators() -> None:
    source = textwrap.dedent(
        """\
        import flagkit
        from app import flags

        if flags.is_enabled("a"):
            flagkit.get_value("b", 0, {"user_id": 1})
        flags.variant(key="c")
        app.flags.evaluate("d", None)

        @flags.when("e", otherwise=old)
        def new(): ...

        @flags.variants("f")
        def pick(): ...

        flags.get_flag("g")

        @flag_required("h", redirect_to="/")
        def view(request): ...
        """
    )
    refs, dynamic = scan_python(source, "app.py")
    assert keys(refs) == [
        ("a", 4, "is_enabled()"),
        ("b", 5, "get_value()"),
        ("c", 6, "variant()"),
        ("d", 7, "evaluate()"),
        ("e", 9, "when()"),
        ("f", 12, "variants()"),
        ("g", 15, "get_flag()"),
        ("h", 17, "flag_required()"),
    ]
    assert dynamic == []
    assert refs[0].location == "app.py:4"


def test_overrides_in_tests() -> None:
    source = textwrap.dedent(
        """\
        @override_flags(flags, a=True, **{"b-key": 1})
        def test_x(flagkit_overrides, my_flags):
            with override_flags({"c": 2}, d="x"):
                flagkit_overrides.set("e", True)
                flagkit_overrides.update({"f": 1}, g=2)
                flagkit_overrides.use(my_flags).set("h", False)
                flag_overrides.set("i", 1)
                flagkit.testing.override_flags(flags, {"j": 1})
        """
    )
    refs, _ = scan_python(source)
    assert [r.key for r in refs] == ["a", "b-key", "d", "c", "e", "g", "f", "h", "i", "j"]
    assert {r.how for r in refs} >= {
        "override_flags",
        "flagkit_overrides.set()",
        "flagkit_overrides.update()",
    }


def test_dynamic_keys_are_kept_apart() -> None:
    source = (
        'name = "x"\nflags.is_enabled(name)\nflags.get_value(f"exp_{name}", 0)\nflags.is_enabled(*args)\n'
    )
    refs, dynamic = scan_python(source, "d.py")
    assert refs == []
    assert keys(dynamic) == [(None, 2, "is_enabled()"), (None, 3, "get_value()")]


def test_unrelated_calls_are_ignored() -> None:
    source = 'd.get("x")\nprint("is_enabled")\nflags.is_enabled()\nsettings.update(a=1)\nx.set("k", 1)\n'
    assert scan_python(source) == ([], [])


def test_ignore_comment() -> None:
    source = 'flags.is_enabled("kept")\nflags.is_enabled("skipped")  # flagkit: ignore\n'
    refs, _ = scan_python(source)
    assert [r.key for r in refs] == ["kept"]


def test_syntax_errors_raise() -> None:
    with pytest.raises(SyntaxError):
        scan_python("def f(:\n")


def test_templates() -> None:
    text = textwrap.dedent(
        """\
        {% load flagkit %}
        {% flag "new_checkout" %}new{% else %}old{% endflag %}
        {%- flag 'b' -%}{% endflag %}
        {% if flag_enabled("c") %}{{ flag_value('d', "blue") }}{% endif %}
        {% flag_variant "e" as color %}{% if "f"|flag_enabled %}{% endif %}
        {% flag "skipped" %}{% endflag %} {# flagkit: ignore #}
        <p>flag "not a tag"</p>
        """
    )
    assert keys(scan_template(text, "t.html")) == [
        ("new_checkout", 2, "{% flag %}"),
        ("b", 3, "{% flag %}"),
        ("c", 4, "flag_enabled()"),
        ("d", 4, "flag_value()"),
        ("e", 5, "{% flag_variant %}"),
        ("f", 5, "|flag_enabled"),
    ]


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_scan_paths_walks_directories(tmp_path: Path) -> None:
    write(tmp_path, "app/views.py", 'flags.is_enabled("a")\n')
    write(tmp_path, "app/templates/page.html", '{% flag "b" %}{% endflag %}\n')
    write(tmp_path, "app/notes.md", 'flags.is_enabled("not-scanned")\n')
    write(tmp_path, ".venv/lib/x.py", 'flags.is_enabled("hidden")\n')
    write(tmp_path, "node_modules/x.py", 'flags.is_enabled("skipped")\n')
    write(tmp_path, "app/broken.py", "def f(:\n")
    explicit = write(tmp_path, "other/snippet.md", '{{ flag_value("c", 1) }}\n')
    result = scan_paths([tmp_path / "app", explicit])
    assert sorted(r.key for r in result.references if r.key) == ["a", "b", "c"]
    assert result.files == 4
    assert len(result.errors) == 1
    assert "broken.py:1" in result.errors[0][0]
    whole = scan_paths([tmp_path])
    assert "hidden" not in {r.key for r in whole.references}
    assert "skipped" not in {r.key for r in whole.references}
    with pytest.raises(FileNotFoundError):
        scan_paths([tmp_path / "missing"])


def test_debt_report(tmp_path: Path, example_file: Path) -> None:
    write(
        tmp_path,
        "app.py",
        'flags.is_enabled("new_checkout")\n'
        'flags.get_value("button_colour", "blue")\n'
        'flags.variant("new_recommendation_engine")\n'
        'flags.is_enabled("search_suggestions")\n'
        'flags.is_enabled("totally_unknown")\n',
    )
    flagset = FlagSet.from_file(example_file)
    report = debt_report(scan_paths([tmp_path]), [flagset], today=dt.date(2027, 3, 1))
    assert set(report.undefined) == {"button_colour", "totally_unknown"}
    assert report.suggestions == {"button_colour": "button_color"}
    assert list(report.expired) == ["new_recommendation_engine"]
    assert report.expired["new_recommendation_engine"][0] == dt.date(2027, 1, 31)
    # new_search is used only as a prerequisite of search_suggestions: still in use.
    assert "new_search" not in report.unused
    assert report.unused == [
        "ai_recommendations",
        "support_email",
        "max_upload_mb",
        "legacy_export",
        "button_color",
        "holiday_banner",
        "pricing_page_v2",
        "in_app_review_prompt",
    ]
    assert report.used == 3
    assert report.problems
    before = debt_report(scan_paths([tmp_path]), [flagset], today=dt.date(2026, 1, 1))
    assert before.expired == {}


def test_keys_defined_in_any_flag_file_count(tmp_path: Path) -> None:
    write(tmp_path, "a.py", 'flags.is_enabled("x")\nflags.is_enabled("y")\n')
    first = FlagSet.from_dict({"x": True})
    second = FlagSet.from_dict({"y": False, "z": 1})
    report = debt_report(scan_paths([tmp_path]), [first, second])
    assert report.undefined == {}
    assert report.unused == ["z"]
    assert not report.problems


# --- a project's wrappers of the flag calls (issue 18) -------------------------------------

WRAPPED = """\
from fastapi import Depends
from app.flags import require_flag, feature

@app.get("/checkout", dependencies=[Depends(require_flag("new_checkout"))])
def checkout(): ...

if feature(key="dark_mode"):
    pass
require_flag(name)  # dynamic
"""


def test_wrappers_named_by_the_project_are_references() -> None:
    assert scan_python(WRAPPED) == ([], [])
    refs, dynamic = scan_python(WRAPPED, key_calls=["require_flag", "feature"])
    assert keys(refs) == [("new_checkout", 4, "require_flag()"), ("dark_mode", 7, "feature()")]
    assert keys(dynamic) == [(None, 9, "require_flag()")]


def unused(stdout: str) -> list[str]:
    return [entry["key"] for entry in json.loads(stdout)["unused"]]


def test_scan_key_call_option_and_pyproject(tmp_path: Path) -> None:
    from tests.cli.runner import run  # flagkit.cli.main, in process

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "views.py").write_text(WRAPPED)
    flags = tmp_path / "features.yaml"
    flags.write_text("features:\n  new_checkout: true\n  dark_mode: false\n  old_thing: true\n")
    plain = run("scan", "app", "--flags", flags, "--json", cwd=tmp_path)
    assert unused(plain.stdout) == ["new_checkout", "dark_mode", "old_thing"]
    told = run("scan", "app", "--flags", flags, "--key-call", "require_flag", "--key-call", "feature",
               "--json", cwd=tmp_path)  # fmt: skip
    assert unused(told.stdout) == ["old_thing"]
    (tmp_path / "pyproject.toml").write_text(
        '[tool.flagkit]\nfile = "features.yaml"\nkey_calls = ["require_flag", "feature"]\n'
    )
    configured = run("scan", "app", "--json", cwd=tmp_path)
    assert unused(configured.stdout) == ["old_thing"]
    (tmp_path / "pyproject.toml").write_text('[tool.flagkit]\nkey_calls = "require_flag"\n')
    bad = run("scan", "app", "--flags", flags, cwd=tmp_path)
    assert bad.returncode == 2
    assert "key_calls must be a list of function names" in bad.stderr
