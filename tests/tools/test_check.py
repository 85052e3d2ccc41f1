"""Checking a whole file: schema and compiler errors in one run, warnings for valid files."""

from __future__ import annotations

import datetime as dt

from flagkit._tools.check import check_document


def test_schema_and_compiler_errors_are_reported_together() -> None:
    text = (
        "features:\n"
        "  a:\n"
        "    enabled: maybe\n"
        "  b:\n"
        "    requires: [a]\n"
        "    default: nope\n"
        "  c:\n"
        "    rules:\n"
        "      - serve: {on: 50, off: 40}\n"
    )
    result = check_document(text, "f.yaml")
    assert result.flagset is None
    assert [(i.flag, i.line) for i in result.errors] == [("a", 3), ("b", 6), ("c", 9)]
    assert not any("requires unknown flag" in i.message for i in result.errors)
    assert result.warnings == []


def test_document_level_errors_stop_early() -> None:
    result = check_document("features: [1, 2\n", "f.yaml")
    assert result.flagset is None
    assert len(result.errors) == 1
    assert "invalid YAML" in result.errors[0].message


def test_valid_documents_get_warnings_unless_asked_not_to() -> None:
    text = "features:\n  a:\n    expires: 2020-01-01\n"
    result = check_document(text, "f.yaml", today=dt.date(2026, 1, 1))
    assert result.flagset is not None
    assert result.errors == []
    assert [w.code for w in result.warnings] == ["expired"]
    assert check_document(text, "f.yaml", warnings=False).warnings == []


def test_json_documents() -> None:
    result = check_document('{"features": {"a": {"default": "x"}, "b": {"owner": 3}}}', "f.json")
    assert result.flagset is None
    assert {i.flag for i in result.errors} == {"a", "b"}
