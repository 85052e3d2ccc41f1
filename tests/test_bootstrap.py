"""Flags.bootstrap: client-visible flags only, JSON-safe, embeddable in HTML."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from flagkit import Flags
from flagkit.bootstrap import escape_json, script_tag
from flagkit.jsonsafe import dumps, is_json_safe, to_json_safe
from flagkit.testing import override_flags
from tests.integrations.conftest import CLIENT_FLAGS_FOR_PRO, CLIENT_FLAGS_YAML, bootstrap_from_html


@pytest.fixture
def flags(tmp_path: Path) -> Flags:
    path = tmp_path / "features.yaml"
    path.write_text(CLIENT_FLAGS_YAML, encoding="utf-8")
    return Flags.from_file(path, watch=False)


def test_only_client_flags_with_plain_json_values(flags: Flags, caplog: pytest.LogCaptureFixture) -> None:
    assert flags.bootstrap({"plan": "pro"}) == CLIENT_FLAGS_FOR_PRO
    # The loader refuses NaN in a file; an override (a test, an emergency) can still hold one
    # (of a number flag: override_flags refuses a value of another kind than the flag's).
    numbers = Flags.from_dict(
        {"features": {"ratio": {"client": True, "variants": {"half": 0.5}, "default": "half"}}}
    )
    with caplog.at_level(logging.WARNING, logger="flagkit"), override_flags(numbers, ratio=float("nan")):
        for _ in range(3):
            assert "ratio" not in numbers.bootstrap({"plan": "pro"})
    left_out = [r.getMessage() for r in caplog.records if "left out of the bootstrap" in r.getMessage()]
    assert len(left_out) == 1  # once per flag, not per request
    assert "'ratio' left out of the bootstrap (in tests.test_bootstrap:" in left_out[0]
    assert left_out[0].endswith("its value is not plain JSON")
    assert numbers.bootstrap() == {"ratio": {"value": 0.5, "variant": "half"}}
    numbers.close()
    assert flags.bootstrap() == {
        "banner": {"value": "hello", "variant": "plain"},
        "new_ui": {"value": False, "variant": "off"},
    }


def test_a_flag_serving_code_default_is_left_out_silently(caplog: pytest.LogCaptureFixture) -> None:
    doc = {
        "features": {
            "theme": {
                "client": True,
                "variants": {"dark": "dark"},
                "default": "code_default",  # the front end's own default
                "rules": [{"when": {"beta": True}, "serve": "dark"}],
            }
        }
    }
    with Flags.from_dict(doc) as flags, caplog.at_level(logging.DEBUG, logger="flagkit"):
        for _ in range(3):
            assert flags.bootstrap() == {}
        assert flags.bootstrap({"beta": True}) == {"theme": {"value": "dark", "variant": "dark"}}
    assert caplog.records == []


def test_uses_the_ambient_context_and_ignores_bad_contexts(flags: Flags) -> None:
    with flags.context(plan="pro"):
        assert flags.bootstrap() == CLIENT_FLAGS_FOR_PRO
    assert flags.bootstrap(42) == {}  # type: ignore[arg-type]  # misuse: not a mapping


def test_overrides_keep_client_visibility(flags: Flags) -> None:
    with override_flags(flags, new_ui=True, backend_only=False):
        data = flags.bootstrap()
    assert data["new_ui"] == {"value": True, "variant": "on"}
    assert "backend_only" not in data


def test_script_tag_cannot_be_broken_out_of() -> None:
    data = {"x": "</script><!-- & \u2028 \u2029 '\""}
    tag = script_tag(data, element_id='a"b')
    assert tag.startswith('<script type="application/json" id="a&quot;b">')
    assert tag.count("</script>") == 1
    assert json.loads(escape_json(data)) == data
    assert bootstrap_from_html(script_tag(data)) == data


def test_no_nan_or_infinity_in_flagkit_json() -> None:
    nasty = {"a": float("nan"), "b": [float("inf"), -float("inf")], 3: (1, 2), "d": {1.5}}
    assert not is_json_safe(nasty)
    assert to_json_safe(nasty) == {"a": "nan", "b": ["inf", "-inf"], "3": [1, 2], "d": [1.5]}
    assert json.loads(dumps(nasty)) == to_json_safe(nasty)
    with pytest.raises(ValueError, match="Out of range float"):
        escape_json({"a": float("nan")})
    assert is_json_safe({"a": [1, 2.5, None, True, "x", {"b": []}]})
