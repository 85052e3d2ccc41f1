"""The document reader: YAML 1.2 scalars, safety limits, duplicate keys, line numbers."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import pytest

from flagkit import ConfigError, FlagSet
from flagkit.loading import detect_format, locate_lines, read_document


def test_seed_config_loads_unchanged() -> None:
    flags = FlagSet.from_bytes(b"features:\n  new_checkout: true\n  ai_recommendations: false\n")
    assert set(flags.flags) == {"new_checkout", "ai_recommendations"}


@pytest.mark.parametrize("word", ["on", "off", "yes", "no", "On", "OFF", "y", "n"])
def test_yaml_1_1_booleans_stay_strings(word: str) -> None:
    assert read_document(f"a: {word}\n") == {"a": word}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("True", True),
        ("FALSE", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("12", 12),
        ("-7", -7),
        ("0o17", 15),
        ("0x1F", 31),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (".inf", math.inf),
        ("-.inf", -math.inf),
        ("2026-01-01", "2026-01-01"),  # no implicit timestamps in YAML 1.2
        ("1_000", "1_000"),  # YAML 1.1 underscores are not numbers in 1.2
        ("0777", 777),  # YAML 1.2: decimal, not octal
        ("NO", "NO"),  # the Norway problem
        ('"true"', "true"),
        ("'12'", "12"),
        ("!!str 12", "12"),
        ("!!float 3", 3.0),
    ],
)
def test_core_schema_scalars(text: str, value: object) -> None:
    assert read_document(f"a: {text}\n") == {"a": value}


def test_nan_scalar() -> None:
    assert math.isnan(read_document("a: .nan\n")["a"])


def test_variant_names_on_off_are_strings() -> None:
    flags = FlagSet.from_bytes(
        b"features:\n  f:\n    variants: {on: 1, off: 0}\n    default: off\n    rules:\n      - serve: on\n"
    )
    assert dict(flags.flags["f"].variants) == {"on": 1, "off": 0}
    assert flags.flags["f"].resolve({}, {})[:2] == (1, "on")


def test_keys_are_always_strings() -> None:
    assert read_document("1: a\ntrue: b\nnull: c\n") == {"1": "a", "true": "b", "null": "c"}


def test_duplicate_key_names_both_lines() -> None:
    with pytest.raises(ConfigError) as info:
        FlagSet.from_bytes(b"features:\n  a: true\n  b: false\n  a: false\n", source="flags.yaml")
    message = str(info.value)
    assert "duplicate key 'a'" in message
    assert "line 2" in message
    assert "line 4" in message
    assert info.value.issues[0].line == 4
    assert info.value.issues[0].source == "flags.yaml"


def test_duplicate_key_in_json_names_both_lines() -> None:
    data = b'{\n  "features": {\n    "a": true,\n    "a": false\n  }\n}\n'
    with pytest.raises(ConfigError) as info:
        FlagSet.from_bytes(data, source="flags.json")
    assert "duplicate key 'a'" in str(info.value)
    assert "line 3" in str(info.value)
    assert "line 4" in str(info.value)


@pytest.mark.parametrize(
    "doc",
    [
        "a: !!python/object/apply:os.system ['echo pwned']\n",
        "a: !!python/name:os.system\n",
        "a: !custom 1\n",
        "a: !!binary aGVsbG8=\n",
        "a: !!timestamp 2026-01-01\n",
        "a: !!set {x}\n",
    ],
)
def test_tags_that_construct_objects_are_refused(doc: str) -> None:
    with pytest.raises(ConfigError, match="not allowed"):
        read_document(doc)


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    bomb = "\n".join(lines) + "\n"
    # Stopped at the first bound, not at 10**10 nodes: memory, unlike time, does not depend on
    # the machine's load, so the proof is the peak allocation and the line it stopped at.
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="alias bomb") as caught:
            read_document(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20
    assert caught.value.issues[0].line == 7  # a6 is the first alias past 2,000,000 nodes


def test_anchors_and_merge_keys_work() -> None:
    doc = read_document("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nref: *b\n")
    assert doc == {"base": {"x": 1, "y": 2}, "other": {"y": 3, "x": 1}, "ref": {"x": 1, "y": 2}}


def test_size_cap() -> None:
    with pytest.raises(ConfigError, match="over the limit"):
        read_document(b"a: " + b"x" * 200 + b"\n", max_bytes=100)


def test_file_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"features: {}\n# " + b"x" * 5000 + b"\n")
    with pytest.raises(ConfigError, match="over the limit"):
        FlagSet.from_file(path, max_bytes=1000)


def test_depth_cap() -> None:
    with pytest.raises(ConfigError, match="nesting deeper"):
        read_document("a: " + "[" * 100 + "]" * 100 + "\n")


def test_json_depth_cap() -> None:
    with pytest.raises(ConfigError):
        read_document("[" * 100_000 + "]" * 100_000, fmt="json")


def test_multiple_documents_refused() -> None:
    with pytest.raises(ConfigError, match="more than one YAML document"):
        read_document("a: 1\n---\nb: 2\n")


def test_invalid_yaml_has_line() -> None:
    with pytest.raises(ConfigError) as info:
        FlagSet.from_bytes(b"features:\n  a: true\n  b: [unclosed\n  c: 1\n", source="bad.yaml")
    issue = info.value.issues[0]
    assert issue.source == "bad.yaml"
    assert issue.line is not None
    assert issue.line >= 3
    assert "invalid YAML" in issue.message


def test_invalid_json_has_line() -> None:
    with pytest.raises(ConfigError) as info:
        FlagSet.from_bytes(b'{\n "features": {\n  "a": tru\n }\n}', source="bad.json")
    assert info.value.issues[0].line == 3
    assert "invalid JSON" in str(info.value)


def test_json_and_yaml_give_the_same_flags() -> None:
    yaml_set = FlagSet.from_bytes(b"features:\n  a: {rules: [{serve: on}]}\n", fmt="yaml")
    json_set = FlagSet.from_bytes(b'{"features": {"a": {"rules": [{"serve": "on"}]}}}', fmt="json")
    assert yaml_set.flags["a"].fingerprint == json_set.flags["a"].fingerprint


def test_non_utf8_is_an_error() -> None:
    with pytest.raises(ConfigError):
        FlagSet.from_bytes(b"features:\n  a: \xff\xfe\n")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.json", "json"),
        ("a.JSON", "json"),
        ("a.yaml", "yaml"),
        ("a.yml", "yaml"),
        ("https://x/f.json?v=1", "json"),
    ],
)
def test_detect_format(name: str, fmt: str) -> None:
    assert detect_format(name) == fmt


def test_locate_lines_maps_paths() -> None:
    marks = locate_lines("features:\n  a:\n    rules:\n      - serve: on\n        name: r\n")
    assert marks[("features", "a")] == 2
    assert marks[("features", "a", "rules")] == 3
    assert marks[("features", "a", "rules", 0, "serve")] == 4
    assert marks[("features", "a", "rules", 0, "name")] == 5


def test_list_items_are_located_at_their_start() -> None:
    text = "features:\n  a:\n    rules:\n      - name: one\n        serve: on\n      - serve: off\n"
    marks = locate_lines(text)
    assert marks[("features", "a", "rules", 0)] == 4
    assert marks[("features", "a", "rules", 1)] == 6
