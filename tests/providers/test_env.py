"""EnvProvider: prefix convention, value parsing, errors naming the variable."""

from __future__ import annotations

from typing import Any

import pytest

from flagkit import ConfigError, EnvProvider, Flags, Reason
from flagkit.providers.env import parse_env_value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("on", True),
        ("Yes", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("off", False),
        ("NO", False),
        (" true ", True),
        ("25", 25),
        ("-3", -3),
        ("0.25", 0.25),
        ("1e3", 1000.0),
        ("hello", "hello"),
        ("help@example.com", "help@example.com"),
        ("", ""),
        ("null", "null"),
        ("[1, 2]", "[1, 2]"),
        ('{"variants": {"a": 1}, "default": "a"}', {"variants": {"a": 1}, "default": "a"}),
    ],
)
def test_parse_env_value(text: str, expected: Any) -> None:
    value = parse_env_value(text)
    assert value == expected
    assert type(value) is type(expected)


def test_broken_json_object_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid JSON object"):
        parse_env_value('{"variants": ')


def test_prefix_convention() -> None:
    env = {
        "FEATURE_NEW_CHECKOUT": "true",
        "FEATURE_MAX_UPLOAD_MB": "25",
        "FEATURE_SUPPORT_EMAIL": "help@example.com",
        "FEATURE_DARK_MODE": "off",
        "PATH": "/usr/bin",
        "feature_lowercase": "true",
    }
    with Flags(EnvProvider(environ=env)) as flags:
        assert flags.keys() == ["dark_mode", "max_upload_mb", "new_checkout", "support_email"]
        assert flags.is_enabled("new_checkout")
        assert not flags.is_enabled("dark_mode")
        assert flags.get_value("max_upload_mb", 0) == 25
        assert flags.get_value("support_email", "") == "help@example.com"
        assert flags.evaluate("new_checkout", False).reason is Reason.STATIC
        (status,) = flags.status().values()
        assert status.name == "env:FEATURE_*"
        assert status.state == "ready"


def test_custom_prefix_and_name() -> None:
    provider = EnvProvider("MYAPP_FLAG_", environ={"MYAPP_FLAG_X": "1", "FEATURE_Y": "1"}, name="env")
    assert set(provider.flagset.flags) == {"x"}
    assert provider.variables == {"x": "MYAPP_FLAG_X"}
    assert provider.name == "env"


def test_json_object_is_a_full_flag_definition() -> None:
    definition = (
        '{"variants": {"on": true, "off": false}, "default": "off",'
        ' "rules": [{"when": {"country": ["DE"]}, "serve": "on"}]}'
    )
    with Flags(EnvProvider(environ={"FEATURE_EU_BANNER": definition})) as flags:
        assert flags.is_enabled("eu_banner", {"country": "DE"})
        assert not flags.is_enabled("eu_banner", {"country": "US"})


def test_broken_json_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        EnvProvider(environ={"FEATURE_OK": "true", "FEATURE_BROKEN": '{"variants": {'})
    assert "FEATURE_BROKEN" in str(info.value)
    assert info.value.issues[0].source == "FEATURE_BROKEN"


def test_invalid_definition_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        EnvProvider(environ={"FEATURE_NEW_CHECKOUT": '{"variants": {"a": 1}, "default": "missing"}'})
    message = str(info.value)
    assert "FEATURE_NEW_CHECKOUT" in message
    assert "missing" in message


def test_two_variables_for_one_flag_is_an_error() -> None:
    with pytest.raises(ConfigError, match="FEATURE_X"):
        EnvProvider(environ={"FEATURE_X": "1", "FEATURE_x": "0"})


def test_bare_prefix_is_ignored() -> None:
    assert len(EnvProvider(environ={"FEATURE_": "1"}).flagset) == 0


def test_reads_os_environ_once_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURE_FROM_OS", "yes")
    provider = EnvProvider()
    monkeypatch.setenv("FEATURE_FROM_OS", "no")
    with Flags(provider) as flags:
        assert flags.is_enabled("from_os")  # a restart is needed to see the change


def test_version_follows_content() -> None:
    a = EnvProvider(environ={"FEATURE_X": "1"}).flagset.version
    b = EnvProvider(environ={"FEATURE_X": "1"}).flagset.version
    c = EnvProvider(environ={"FEATURE_X": "0"}).flagset.version
    assert a == b
    assert a != c


def test_after_fork_keeps_flags() -> None:
    provider = EnvProvider(environ={"FEATURE_X": "1"})
    seen: list[object] = []
    provider.after_fork(seen.append)
    assert seen == []  # nothing to restart, the client keeps its snapshot
