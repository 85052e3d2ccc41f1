"""Definitions after load: re-derived on demand from what a flag set keeps, equal to what was
validated; fingerprints (change detection) compare definitions, not how they were written."""

from __future__ import annotations

import datetime as dt
import gc
import json
import weakref
from typing import Any

import pytest

from flagkit import Flags, FlagSet
from flagkit.document.reader import read_document
from flagkit.document.schema import FlagDefinition, FlagDocument
from flagkit.document.validation import validate_document
from flagkit.providers.base import Provider, Report

YAML = b"""\
$schema: ./flagkit.schema.json
version: 3
options: {numeric_strings: true}
segments:
  staff: {email: {ends_with: "@example.com"}}
  adults: {age: {gte: 18}}
features:
  plain: true
  number: 1.5
  checkout:
    description: New checkout
    owner: team-a
    expires: 2027-01-01
    track: true
    client: true
    metadata: {jira: SHOP-1}
    variants: {old: {v: 1}, new: {v: [2, 3]}}
    default: old
    rules:
      - {name: staff, when: {segment: staff}, serve: new}
      - when: {age: {gte: 21}}
        serve: {old: 50, new: 50}
  adults_only:
    requires: [checkout]
    rules: [{when: {segment: adults}, serve: on}]
"""


def validated() -> FlagDocument:
    doc = validate_document(read_document(YAML))
    assert isinstance(doc, FlagDocument)
    return doc


def test_definitions_are_re_derived_equal_to_the_validated_ones() -> None:
    flagset = FlagSet.from_bytes(YAML, source="flags.yaml")
    doc = validated()
    for key, flag in flagset.flags.items():
        expected = doc.features[key]
        assert flag.definition == (expected if isinstance(expected, FlagDefinition) else None)
        assert flag.is_static is (not isinstance(expected, FlagDefinition))
    assert flagset.document == doc
    assert flagset.document_version == 3
    checkout = flagset.flags["checkout"]
    assert checkout.spec is not None
    assert (checkout.spec.track, checkout.spec.client) == (True, True)


def test_the_models_are_not_kept_once_the_caller_drops_them() -> None:
    flagset = FlagSet.from_bytes(YAML, source="flags.yaml")
    definition = flagset.flags["checkout"].definition
    document = flagset.document
    assert definition is flagset.flags["checkout"].definition  # cached while held
    assert document is flagset.document
    refs = [weakref.ref(definition), weakref.ref(document)]
    del definition, document
    gc.collect()
    assert [ref() for ref in refs] == [None, None]
    assert flagset.flags["checkout"].definition is not None  # and re-derived when asked again


def test_a_flag_set_with_its_version_relabelled_keeps_its_document() -> None:
    flagset = FlagSet.from_bytes(YAML, source="flags.yaml").with_version("etag-1")
    assert flagset.document == validated()


def test_python_values_marshal_cannot_write_keep_the_model() -> None:
    day = dt.date(2027, 1, 1)
    flagset = FlagSet.from_dict({"f": {"expires": day, "rules": [{"serve": "on"}]}, "g": {"default": "on"}})
    definition = flagset.flags["f"].definition
    assert definition is not None
    assert definition.expires == day
    document = flagset.document
    assert document is not None
    assert set(document.features) == {"f", "g"}


def load(features: dict[str, Any], segments: dict[str, Any] | None = None) -> FlagSet:
    doc: dict[str, Any] = {"features": features}
    if segments is not None:
        doc["segments"] = segments
    return FlagSet.from_bytes(json.dumps(doc), fmt="json")


def test_fingerprints_compare_definitions_not_spelling() -> None:
    rule = {"when": {"country": "US"}, "serve": "on"}
    before = load({"f": {"description": "x", "rules": [rule]}})
    reordered = load({"f": {"rules": [{"serve": "on", "when": {"country": "US"}}], "description": "x"}})
    spelled_out = load({"f": {"description": "x", "enabled": True, "rules": [rule]}})
    changed = load({"f": {"description": "y", "rules": [rule]}})
    fingerprint = before.flags["f"].fingerprint
    assert fingerprint == reordered.flags["f"].fingerprint
    assert fingerprint == spelled_out.flags["f"].fingerprint
    assert fingerprint != changed.flags["f"].fingerprint
    assert fingerprint != FlagSet.from_dict({"f": True}).flags["f"].fingerprint


def test_a_changed_segment_changes_the_flags_that_use_it() -> None:
    features = {"uses": {"rules": [{"when": {"segment": "s"}, "serve": "on"}]}, "other": {"default": "on"}}
    before = load(features, {"s": {"plan": "pro"}})
    after = load(features, {"s": {"plan": "team"}})
    assert before.flags["uses"].fingerprint != after.flags["uses"].fingerprint
    assert before.flags["other"].fingerprint == after.flags["other"].fingerprint


class ManualProvider(Provider):
    """Reports on the caller's thread, so the test controls when reloads happen."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__("manual")
        self.data = data
        self.report: Report | None = None

    def start(self, report: Report) -> None:
        self.report = report
        report(load(self.data))

    def publish(self, data: dict[str, Any]) -> None:
        assert self.report is not None
        self.report(load(data))


def test_a_reload_reports_only_the_flags_whose_definition_changed() -> None:
    rule = {"when": {"plan": "pro"}, "serve": "on"}
    provider = ManualProvider({"a": {"rules": [rule]}, "b": {"owner": "x"}, "c": True})
    with Flags(provider) as flags:
        seen: list[frozenset[str]] = []
        flags.on_change(seen.append)
        # a: the same definition, written another way; b: changed; c: unchanged.
        provider.publish(
            {"a": {"enabled": True, "rules": [{"serve": "on", "when": {"plan": "pro"}}]}, "b": {}, "c": True}
        )
        assert flags.flush_listeners(5)
    assert seen == [frozenset({"b"})]


@pytest.mark.parametrize(
    ("value", "other"),
    [(1, True), (1, 1.0), (0.0, -0.0), ("1", 1), ([1], [True]), ({"a": 1}, {"a": 1.0})],
)
def test_equal_looking_values_of_other_types_are_never_shared(value: Any, other: Any) -> None:
    flagset = FlagSet.from_dict(
        {
            "x": {"variants": {"v": value}, "default": "v"},
            "y": {"variants": {"v": other}, "default": "v"},
            "sx": {"variants": {"v": value}, "default": "v", "rules": [{"serve": "v"}]},
            "sy": {"variants": {"v": other}, "default": "v", "rules": [{"serve": "v"}]},
        }
    )
    for key, expected in (("x", value), ("y", other), ("sx", value), ("sy", other)):
        served = flagset.flags[key].resolve({}, {})[0]
        assert served == expected
        assert type(served) is type(expected)
        assert repr(served) == repr(expected)
        assert repr(flagset.flags[key].variants["v"]) == repr(expected)
