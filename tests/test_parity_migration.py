"""Where flagkit deliberately differs from a peer, the migration tables say so: each documented
difference is checked here against the peer's own data, and the table row that tells a migrating
user what to change is checked to exist (issue 20).

Sources (read, not copied):
- flagd-testbed 3.9.0 (shipped beside the clone, tests/helpers/peer_suites.py):
  evaluator/gherkin/semver.feature @semver-v-prefix and flags/testkit-flags.json
  `semver-v-prefix-flag`; flagd's `fractional` shorthand needs a string `targetingKey`.
- launchdarkly-server-sdk 9.20.0, ldclient/impl/operators.py: `parse_semver("v2.0.0")` and
  `parse_time("2030-01-15")` are both None (the clause never matches); its test_operators.py
  uses only RFC 3339 times and bare versions.
- Unleash's engine (UnleashClient 6.9.1 → yggdrasil-engine 2.0.0): SEMVER_EQ 1.0.0 is false for
  appVersion "v1.0.0", DATE_AFTER "2022-01-29" is false for 2022-02-01T00:00:00.000Z.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from flagkit import Flags, Reason, bucketing
from tests.helpers.peer_suites import peer_suite

FORMAT_MD = (Path(__file__).resolve().parents[1] / "docs" / "format.md").read_text(encoding="utf-8")


def migration_rows(system: str) -> list[str]:
    section = FORMAT_MD.split("## Coming from flagd, Unleash or LaunchDarkly", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith(f"| {system}")]


def one(when: dict[str, Any]) -> Flags:
    return Flags.from_dict({"features": {"f": {"rules": [{"when": when, "serve": "on"}]}}})


# --- flagd: the v prefix is flagd's own behaviour (no difference) ---------------------------


def _examples(feature: str, tag: str) -> list[dict[str, str]]:
    block = feature.split(tag, 1)[1].split("Examples:", 1)[1]
    rows = []
    for line in block.splitlines()[1:]:
        if not line.strip().startswith("|"):
            break  # the table ends at the first line that is not a row
        rows.append(line.strip())
    table = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    header, *body = table
    out = [dict(zip(header, row, strict=True)) for row in body]
    assert out, f"no examples under {tag}"
    return out


def test_flagd_testbed_v_prefix_examples() -> None:
    suite = peer_suite("flagd-testbed") / "evaluator"
    feature = (suite / "gherkin" / "semver.feature").read_text(encoding="utf-8")
    definition = json.loads((suite / "flags" / "testkit-flags.json").read_text(encoding="utf-8"))
    targeting = definition["flags"]["semver-v-prefix-flag"]["targeting"]
    assert targeting == {"if": [{"sem_ver": [{"var": "version"}, "=", "v1.0.0"]}, "match", "no-match"]}
    doc = {"features": {"semver-v-prefix-flag": {
        "variants": {"match": "match", "no-match": "no-match"}, "default": "no-match",
        "rules": [{"when": {"version": {"semver_eq": "v1.0.0"}}, "serve": "match"}]}}}  # fmt: skip
    flags = Flags.from_dict(doc)
    examples = _examples(feature, "@semver-v-prefix")
    assert {e["version"] for e in examples} >= {"v1.0.0", "V1.0.0"}
    for example in examples:
        assert (
            flags.get_value("semver-v-prefix-flag", "fallback", {"version": example["version"]})
            == example["value"]
        )


# --- LaunchDarkly and Unleash: v prefix and bare dates are documented differences -----------


@pytest.mark.parametrize("system", ["LaunchDarkly", "Unleash"])
def test_v_prefix_difference_is_documented_with_what_to_change(system: str) -> None:
    # The peers: "v2.0.0" / "v1.0.0" is no version, the clause never matches. flagkit matches it.
    assert one({"app_version": {"semver_eq": "2.0.0"}}).is_enabled("f", {"app_version": "v2.0.0"}) is True
    rows = [r for r in migration_rows(system) if "`v" in r and "**differs**" in r]
    assert len(rows) == 1, rows
    # The documented remedy keeps the peer's audience: the prefixed version no longer matches.
    remedy = re.search(r"`(not: \{attr: \{starts_with: \[v, V\]\}\})`", rows[0])
    assert remedy is not None
    kept = one({"app_version": {"semver_eq": "2.0.0"}, "not": {"app_version": {"starts_with": ["v", "V"]}}})
    assert kept.is_enabled("f", {"app_version": "v2.0.0"}) is False
    assert kept.is_enabled("f", {"app_version": "V2.0.0"}) is False
    assert kept.is_enabled("f", {"app_version": "2.0.0"}) is True


@pytest.mark.parametrize(("system", "bare"), [("LaunchDarkly", "2030-01-15"), ("Unleash", "2022-01-29")])
def test_bare_date_difference_is_documented(system: str, bare: str) -> None:
    # The peers refuse a bare date (the clause or constraint is false); flagkit reads midnight UTC.
    later = f"{bare[:8]}{int(bare[8:]) + 1:02d}T00:00:00Z"
    assert one({"t": {"after": bare}}).is_enabled("f", {"t": later}) is True
    assert one({"t": {"after": f"{bare}T00:00:00Z"}}).is_enabled("f", {"t": later}) is True
    rows = [r for r in migration_rows(system) if "bare date" in r and "**differs**" in r]
    assert len(rows) == 1, rows
    assert "RFC 3339" in rows[0]


# --- flagd: a non-string targeting key ------------------------------------------------------


def test_flagd_non_string_targeting_key_difference_is_documented() -> None:
    # flagd's shorthand `fractional` refuses a targetingKey that is not a string (falls back);
    # flagkit buckets it as a CBOR integer, a different user from its text.
    weights = {f"b{i}": 4.0 for i in range(25)}
    doc = {"features": {"k": {"variants": {v: v for v in weights}, "default": "b0",
                              "rules": [{"serve": weights}]}}}  # fmt: skip
    flags = Flags.from_dict(doc)
    result = flags.evaluate("k", "", {"targeting_key": 123})
    assert result.reason is Reason.SPLIT
    assert result.value == f"b{bucketing.bucket('k', 123, 100_000) // 4000}"
    assert bucketing.bucket("k", 123, 100_000) != bucketing.bucket("k", "123", 100_000)
    rows = [r for r in migration_rows("flagd") if "non-string" in r]
    assert len(rows) == 1, rows
    assert "**differs**" in rows[0]
    assert "str(id)" in rows[0]


def test_launchdarkly_empty_salt_row() -> None:
    rows = [r for r in migration_rows("LaunchDarkly") if '`"salt": ""`' in r]
    assert len(rows) == 1, rows
    assert '`salt: ""`' in rows[0]


# Unleash's engine (yggdrasil-engine 2.0.0): flexibleRollout 50 %, groupId "g", stickiness
# "default", contexts with only a sessionId 0..7: enabled for 0, 2, 4 (it falls back to sessionId).
UNLEASH_DEFAULT_STICKINESS = {"0": True, "1": False, "2": True, "3": False, "4": True, "5": False,
                              "6": False, "7": False}  # fmt: skip


def test_unleash_default_stickiness_difference_and_its_remedy() -> None:
    doc = {"features": {"f": {"bucket_by": "userId", "bucketing": {"scheme": "unleash", "group_id": "g"},
                              "rules": [{"serve": {"on": 50, "off": 50}}]}}}  # fmt: skip
    with Flags.from_dict(doc) as flags:
        # flagkit: no userId, no bucket: the default (off), where Unleash used the sessionId.
        assert not any(flags.is_enabled("f", {"sessionId": s}) for s in UNLEASH_DEFAULT_STICKINESS)
        # The documented remedy, userId = user_id or session_id, gives Unleash's buckets.
        remedy = {s: flags.is_enabled("f", {"userId": s}) for s in UNLEASH_DEFAULT_STICKINESS}  # no user id
    assert remedy == UNLEASH_DEFAULT_STICKINESS
    rows = [r for r in migration_rows("Unleash") if "stickiness: default" in r]
    assert len(rows) == 1, rows
    assert "**differs**" in rows[0]
    assert "user_id or session_id" in rows[0]


def test_launchdarkly_context_key_is_the_targeting_key() -> None:
    # ldclient test_evaluator_bucketing.py test_bucket_by_user_key: Context "userKeyA", flag key
    # "hashKey", salt "saltyA" -> 0.42157587; bucketed by the key, here the default bucket_by.
    weights = {"low": 42.152, "hit": 0.01, "high": 57.838}
    doc = {"features": {"hashKey": {"variants": {v: v for v in weights}, "default": "low", "salt": "saltyA",
                                    "bucketing": "launchdarkly", "rules": [{"serve": weights}]}}}  # fmt: skip
    with Flags.from_dict(doc) as flags:
        assert flags.variant("hashKey", {"targeting_key": "userKeyA"}) == "hit"
    rows = [r for r in migration_rows("LaunchDarkly") if "`bucketBy`" in r]
    assert len(rows) == 1, rows
    assert "targeting_key" in rows[0]
