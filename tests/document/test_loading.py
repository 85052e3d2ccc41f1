"""The document reader: YAML 1.2 scalars, safety limits, duplicate keys, line numbers."""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import pytest

from flagkit import ConfigError, FlagSet
from flagkit.document.reader import detect_format, locate_lines, read_document


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


@pytest.mark.parametrize(
    "text", [".nan", ".NaN", ".inf", "+.Inf", "-.INF", "1e999", "-1e400", "!!float .nan"]
)
def test_yaml_non_finite_numbers_are_refused_with_their_location(text: str) -> None:
    doc = f"features:\n  f:\n    variants: {{a: 1, b: [2, {text}]}}\n    default: a\n"
    with pytest.raises(ConfigError, match="numbers must be finite") as info:
        FlagSet.from_bytes(doc, source="flags.yaml")
    (issue,) = info.value.issues
    assert (issue.source, issue.line, issue.path) == ("flags.yaml", 3, ("features", "f", "variants", "b", 1))


@pytest.mark.parametrize(
    ("where", "yaml_doc"),
    [
        ("weight", "features:\n  f:\n    rules:\n      - serve: {on: .nan, off: 50}\n"),
        ("weight", "features:\n  f:\n    rules:\n      - serve: {on: .inf, off: 50}\n"),
        ("operand", "features:\n  f:\n    rules:\n      - when: {age: {gt: .nan}}\n        serve: on\n"),
        ("value", "features:\n  f: -.inf\n"),
    ],
)
def test_non_finite_numbers_anywhere_are_a_config_error(where: str, yaml_doc: str) -> None:
    with pytest.raises(ConfigError, match="numbers must be finite") as info:
        FlagSet.from_bytes(yaml_doc, source="f.yaml")
    assert info.value.issues[0].line is not None


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_json_non_finite_numbers_are_refused_with_their_location(value: float) -> None:
    # What json.dumps writes for a float NaN or infinity (NaN, Infinity, -Infinity).
    data = json.dumps(
        {"features": {"ok": True, "f": {"rules": [{"serve": {"on": value, "off": 50}}]}}}, indent=1
    )
    with pytest.raises(ConfigError, match="numbers must be finite") as info:
        FlagSet.from_bytes(data, source="flags.json")
    (issue,) = info.value.issues
    assert issue.path == ("features", "f", "rules", 0, "serve", "on")
    assert issue.source == "flags.json"
    assert issue.line == data.splitlines().index(next(x for x in data.splitlines() if '"on"' in x)) + 1


def test_json_overflowing_float_is_refused() -> None:
    with pytest.raises(ConfigError, match="1e999 is not allowed"):
        FlagSet.from_bytes('{"features": {"f": {"variants": {"a": 1e999}, "default": "a"}}}', fmt="json")


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_python_data_with_non_finite_numbers_is_refused(value: float) -> None:
    for doc in (
        {"f": value},
        {"f": {"variants": {"a": [{"x": value}]}, "default": "a"}},
        {"f": {"rules": [{"serve": {"on": value, "off": 50}}]}},
        {"f": {"rules": [{"when": {"age": {"gte": value}}, "serve": "on"}]}},
    ):
        with pytest.raises(ConfigError, match="finite"):
            FlagSet.from_dict(doc)


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("yaml", "9" * 5000),
        ("yaml", "-" + "1" * 4301),
        ("yaml", "0x" + "f" * 4000),
        ("yaml", "0o" + "7" * 5000),
        ("json", "9" * 5000),
    ],
)
def test_integers_over_python_digit_limit_are_a_config_error(fmt: str, text: str) -> None:
    data = (
        f"features:\n  ok: true\n  f: {text}\n"
        if fmt == "yaml"
        else f'{{"features":\n {{"ok": true,\n "f": {text}}}}}'
    )
    with pytest.raises(ConfigError, match="more than 4,300 digits") as info:
        FlagSet.from_bytes(data, fmt=fmt, source="big")  # type: ignore[arg-type]  # fmt is "yaml" or "json"
    assert info.value.issues[0].line == 3
    assert info.value.issues[0].source == "big"


def test_a_long_integer_within_the_limit_still_loads() -> None:
    flags = FlagSet.from_bytes(f"features:\n  f: {'9' * 4300}\n")
    assert flags.flags["f"].default_variant == "9" * 4300


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
    with pytest.raises(ConfigError, match="nesting deeper than 64 levels") as info:
        read_document("[" * 100_000 + "]" * 100_000, fmt="json")
    assert info.value.issues[0].line == 1


@pytest.mark.parametrize("depth", [61, 200, 900])
def test_deep_json_values_get_the_yaml_depth_cap(depth: int) -> None:
    deep = "[" * depth + "]" * depth
    for field in ("variants", "metadata"):
        data = f'{{"features": {{"f": {{"{field}": {{"a": {deep}}}, "default": "a"}}}}}}'
        if field == "metadata":
            data = f'{{"features": {{"f": {{"metadata": {{"a": {deep}}}}}}}}}'
        with pytest.raises(ConfigError, match="nesting deeper than 64 levels") as info:
            FlagSet.from_bytes(data, fmt="json", source="deep.json")
        assert info.value.issues[0].path == ("features", "f", field, "a")
        assert info.value.issues[0].line == 1
    operand = f'{{"features": {{"f": {{"rules": [{{"when": {{"x": {{"eq": {deep}}}}}, "serve": "on"}}]}}}}}}'
    with pytest.raises(ConfigError, match="nesting deeper than 64 levels"):
        FlagSet.from_bytes(operand, fmt="json")


def test_json_as_deep_as_yaml_allows_loads() -> None:
    deep = "[" * 60 + "]" * 60  # 60 + the 4 levels above it: the YAML cap, 64
    assert FlagSet.from_bytes(
        f'{{"features": {{"f": {{"variants": {{"a": {deep}}}, "default": "a"}}}}}}', fmt="json"
    )
    with pytest.raises(ConfigError, match="nesting deeper"):
        FlagSet.from_bytes(f"features:\n  f:\n    variants:\n      a: {'[' * 61 + ']' * 61}\n")


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
