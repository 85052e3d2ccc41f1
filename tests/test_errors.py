"""Errors mask credentials themselves: a URL with a password never shows in an error (issue 19)."""

from __future__ import annotations

import pickle

import pytest

from flagkit.errors import ConfigError, ConfigIssue, SourceError

SECRETS = ("hunter2", "s3cr3t", "abc123")


def _texts(error: BaseException) -> list[str]:
    texts = [str(error), repr(error), *map(repr, error.args), repr(getattr(error, "source", None))]
    if isinstance(error, ConfigError):
        texts += [str(issue) for issue in error.issues] + [repr(issue) for issue in error.issues]
    return texts


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("https://user:hunter2@flags.example/x", "https://user:***@flags.example/x"),
        ("https://user:hunter2@flags.example/x?token=abc123", "https://user:***@flags.example/x?token=***"),
        ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("https://hunter2@flags.example/x", "https://***@flags.example/x"),  # a token as user name
        ("https://user:hun@ter2@flags.example/x", "https://user:***@flags.example/x"),  # '@' in it
    ],
)
def test_source_error_masks_a_url_source(source: str, shown: str) -> None:
    error = SourceError("HTTP 500", source=source)
    assert error.source == shown
    assert str(error) == f"{shown}: HTTP 500"
    for text in [*_texts(error), *_texts(pickle.loads(pickle.dumps(error)))]:
        assert not any(secret in text for secret in ("hunter2", "hun@ter2", "ter2", "abc123")), text


def test_source_error_masks_urls_in_its_message() -> None:
    error = SourceError(
        "redirected to https://u:s3cr3t@cdn.example/f and redis://:hunter2@r:6379", source="x.yaml"
    )
    assert str(error) == "x.yaml: redirected to https://u:***@cdn.example/f and redis://:***@r:6379"
    assert not any(secret in text for text in _texts(error) for secret in SECRETS)


@pytest.mark.parametrize(
    "source", ["features.yaml", "/srv/app/flags?.yaml", "C:\\flags\\f.yaml", "<env FLAGKIT_>"]
)
def test_a_file_name_is_left_alone(source: str) -> None:
    assert SourceError("missing", source=source).source == source
    assert ConfigError("bad", source=source).source == source
    assert ConfigIssue("bad", source=source).source == source


def test_config_error_and_issue_mask_a_url_source() -> None:
    url = "https://user:hunter2@flags.example/f.yaml?sig=abc123"
    issue = ConfigIssue("not a mapping", ("features",), source=url, line=3)
    assert issue.location == "https://user:***@flags.example/f.yaml?sig=***:3"
    many = ConfigError([issue, ConfigIssue("unknown key", source=url)], source=url)
    one = ConfigError("bad document", source=url)
    for error in (many, one):
        assert error.source == "https://user:***@flags.example/f.yaml?sig=***"
        assert not any(secret in text for text in _texts(error) for secret in SECRETS)


def test_masking_is_idempotent_for_sources_already_masked() -> None:
    masked = "https://user:***@flags.example/x?token=***"
    assert SourceError("m", source=masked).source == masked
    assert ConfigError("m", source=masked).source == masked


def test_config_issue_masks_urls_in_its_message() -> None:
    issue = ConfigIssue("cannot fetch https://u:s3cr3t@cdn.example/f.yaml", source="features.yaml")
    assert issue.message == "cannot fetch https://u:***@cdn.example/f.yaml"
    error = ConfigError("segment source redis://:hunter2@r:6379/0 refused")
    assert str(error) == "<flags>: segment source redis://:***@r:6379/0 refused"
    assert not any(secret in text for text in _texts(error) for secret in SECRETS)


def test_an_at_sign_outside_a_url_is_left_alone() -> None:
    text = "expected an e-mail such as ops@example.com, got 'a@b'"
    assert str(ConfigIssue(text)) == f"<flags>: {text}"
    assert str(SourceError(text)) == text
