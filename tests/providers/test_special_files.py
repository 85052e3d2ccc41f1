"""A FIFO, a directory or a device at the flag path is refused, never opened blocking:
the watcher keeps the last good flags and keeps watching. Real files, real watchdog."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from flagkit import FileProvider, Flags, FlagSet, SourceError
from tests.helpers.saves import wait_until, write_atomic_rename


def doc(color: str) -> str:
    return f"features:\n  color: {color}\n"


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_dir(path: Path) -> None:
    path.mkdir()


def make_device(path: Path) -> None:
    os.symlink("/dev/zero", path)  # endless zeros: would be read up to the size limit


SPECIAL: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (make_fifo, "a FIFO"),
    "directory": (make_dir, "a directory"),
    "device": (make_device, "a character device"),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(SPECIAL))
def test_a_special_file_replacing_the_flag_file_is_refused(
    tmp_path: Path, kind: str, no_thread_leaks: None
) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(doc("red"))
    make, words = SPECIAL[kind]
    with Flags(FileProvider(path, poll_interval=0.1)) as flags:
        staged = tmp_path / "staged"
        make(staged)
        os.replace(staged, path) if kind != "directory" else (path.unlink(), os.rename(staged, path))
        wait_until(lambda: "not a regular file" in (flags.status()[f"file:{path}"].last_error or ""))
        status = flags.status()[f"file:{path}"]
        assert status.state == "stale"
        assert words in status.last_error
        assert str(path) in status.last_error
        assert flags.get_value("color", "") == "red"  # last good
        # It may become a regular file again: still watching.
        if kind == "directory":
            path.rmdir()
        write_atomic_rename(path, doc("blue"))
        wait_until(lambda: flags.get_value("color", "") == "blue")
        assert flags.status()[f"file:{path}"].state == "ready"


@pytest.mark.parametrize("kind", sorted(SPECIAL))
def test_a_special_file_at_start_is_a_source_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "features.yaml"
    make, words = SPECIAL[kind]
    make(path)
    with pytest.raises(SourceError, match=f"not a regular file \\({words}") as info:
        Flags.from_file(path, watch=False)
    assert str(path) in str(info.value)
    with pytest.raises(OSError, match="not a regular file"):
        FlagSet.from_file(path)
