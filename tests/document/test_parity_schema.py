"""The migration example (examples/migrations.yaml) loads, validates against the JSON Schema,
and means what its comments say."""

from __future__ import annotations

from pathlib import Path

import pytest

from flagkit import ConfigError, Flags, FlagSet, Reason
from flagkit._tools.explain import explain_in
from flagkit._tools.lint import lint
from flagkit.document.reader import read_document
from flagkit.document.schema import json_schema

MIGRATIONS = Path(__file__).resolve().parents[2] / "examples" / "migrations.yaml"


def test_migration_example_is_valid_for_the_json_schema() -> None:
    import jsonschema

    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(read_document(MIGRATIONS.read_bytes()))) == []
    for bad in ({"bucketing": "optimizely"}, {"requires": [{"g": 3}]}, {"bucket_by": {"input": 1}}):
        assert list(validator.iter_errors({"features": {"f": bad}})), bad


def test_migration_example_loads_lints_clean_and_explains() -> None:
    flagset = FlagSet.from_file(MIGRATIONS)
    assert lint(flagset) == []
    flags = Flags.from_file(MIGRATIONS, watch=False)
    try:
        assert flags.get_value("search_backend", "solr", {"email": "woz@orange.com"}) == "solr"
        assert flags.get_value("search_backend", "solr", {"email": "jobs@orange.com"}) == "vespa"
        office = {"userId": "7", "remoteAddress": "10.1.2.3"}
        assert flags.variant("checkout_copy", office) == "purchase"
        assert flags.is_enabled("checkout_copy_tracking", office) is True
        assert flags.evaluate("checkout_copy_tracking", False, {"userId": "7"}).reason in (
            Reason.TARGETING_MATCH, Reason.PREREQUISITE_FAILED,
        )  # fmt: skip
        contexts = [office, {"userId": "8", "age": "30", "roles": ["beta"], "signup": "2023-01-01T00:00:00Z"}]
        for key in flagset.flags:
            for ctx in contexts:
                assert explain_in(flagset, key, ctx).consistent, (key, ctx)
    finally:
        flags.close()


def test_union_fields_get_one_plain_message() -> None:
    cases = [
        ({"f": {"bucketing": "optimizely"}}, "features.f.bucketing: expected flagd, unleash"),
        ({"f": {"bucket_by": 3}}, "features.f.bucket_by: expected an attribute name"),
        ({"f": {"requires": [{"g": 3}]}, "g": True}, r"features.f.requires\[0\]: expected a flag key"),
        ({"f": {"bucket_by": {"inpt": "x"}}}, "features.f.bucket_by.inpt: unknown field"),
    ]
    for doc, message in cases:
        with pytest.raises(ConfigError, match=message) as info:
            FlagSet.from_dict(doc)
        text = str(info.value)
        for label in ("literal[", "dict[", "Bucket"):  # no pydantic union-member labels
            assert label not in text, text
