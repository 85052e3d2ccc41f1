"""Env over file over remote, flag by flag; one broken source never takes the others down."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from flagkit import DictProvider, EnvProvider, FileProvider, Flags, HttpProvider
from tests.helpers.flag_server import FlagServer
from tests.helpers.saves import wait_until, write_atomic_rename

REMOTE = """\
features:
  color: remote
  size: 3
  remote_only: true
  shared: remote
"""
FILE = """\
features:
  color: file
  file_only: true
  shared: file
"""
ENV = {"FEATURE_COLOR": "env", "FEATURE_ENV_ONLY": "yes", "UNRELATED": "x"}


def test_first_provider_wins_flag_by_flag() -> None:
    flags = Flags(
        DictProvider({"a": "first"}, name="one"),
        DictProvider({"a": "second", "b": "second"}, name="two"),
    )
    assert flags.get_value("a", "") == "first"
    assert flags.get_value("b", "") == "second"
    assert list(flags.status()) == ["one", "two"]


@pytest.fixture
def remote() -> Iterator[FlagServer]:
    with FlagServer(REMOTE) as server:
        yield server


@pytest.mark.slow
def test_env_over_file_over_remote(remote: FlagServer, tmp_path: Path, no_thread_leaks: None) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(FILE)
    env = EnvProvider(prefix="FEATURE_", environ=ENV)
    file = FileProvider(path)
    http = HttpProvider(remote.url(), interval=0.05, backoff=(0.05, 0.2))
    with Flags(env, file, http) as flags:
        assert flags.wait_ready(5)
        assert flags.get_value("color", "") == "env"  # env beats file and remote
        assert flags.get_value("shared", "") == "file"  # file beats remote
        assert flags.get_value("size", 0) == 3  # only remote defines it
        assert flags.is_enabled("env_only")
        assert flags.is_enabled("file_only")
        assert flags.is_enabled("remote_only")
        assert [s.state for s in flags.status().values()] == ["ready", "ready", "ready"]

        # A change in a lower layer under a higher one's flag changes nothing visible...
        changes: list[frozenset[str]] = []
        flags.on_change(changes.append)
        remote.set_body(REMOTE.replace("color: remote", "color: remote2").replace("size: 3", "size: 4"))
        wait_until(lambda: flags.get_value("size", 0) == 4)
        assert flags.get_value("color", "") == "env"
        wait_until(lambda: changes)
        assert frozenset({"size"}) in changes
        assert all("color" not in keys for keys in changes)

        # ...and removing a flag from the file lets the remote value show through.
        write_atomic_rename(path, FILE.replace("  shared: file\n", ""))
        wait_until(lambda: flags.get_value("shared", "") == "remote")


@pytest.mark.slow
def test_one_broken_source_keeps_everything_else(
    remote: FlagServer, tmp_path: Path, no_thread_leaks: None
) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(FILE)
    http = HttpProvider(remote.url(), interval=0.05, backoff=(0.05, 0.2))
    with Flags(FileProvider(path), http) as flags:
        assert flags.wait_ready(5)
        remote.mode = "error"
        write_atomic_rename(path, "features: [broken\n")
        wait_until(lambda: [s.state for s in flags.status().values()] == ["stale", "stale"])
        # Nothing flipped to defaults.
        assert flags.get_value("color", "") == "file"
        assert flags.get_value("size", 0) == 3
        assert flags.is_enabled("remote_only")
        remote.mode = "ok"
        write_atomic_rename(path, FILE)
        wait_until(lambda: [s.state for s in flags.status().values()] == ["ready", "ready"])


@pytest.mark.slow
def test_a_provider_that_was_never_good_contributes_nothing(tmp_path: Path, no_thread_leaks: None) -> None:
    missing = tmp_path / "missing.yaml"
    with Flags(EnvProvider(environ=ENV), FileProvider(missing)) as flags:
        assert not flags.ready
        assert flags.get_value("color", "") == "env"  # the env layer still serves
        assert not flags.is_enabled("file_only")
        states = {name: s.state for name, s in flags.status().items()}
        assert states == {"env:FEATURE_*": "ready", f"file:{missing}": "error"}
        missing.write_text(FILE)
        assert flags.wait_ready(5)
        assert flags.is_enabled("file_only")
        assert flags.get_value("color", "") == "env"


@pytest.mark.slow
def test_status_reports_versions_and_times(remote: FlagServer, tmp_path: Path, no_thread_leaks: None) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(FILE)
    with Flags(FileProvider(path), HttpProvider(remote.url(), interval=60)) as flags:
        assert flags.wait_ready(5)
        file_status, http_status = flags.status().values()
        assert http_status.version == hashlib.sha256(remote.body).hexdigest()[:16]  # as for files
        assert file_status.version is not None
        assert len(file_status.version) == 16
        for status in (file_status, http_status):
            assert status.last_success is not None
            assert status.last_error is None
            assert status.as_dict()["state"] == "ready"
