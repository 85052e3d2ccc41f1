"""Replace a flag file atomically, and only if nobody changed it since it was read.

The new content goes to a temporary file in the same directory (so the rename cannot cross
file systems), with the original's permission bits and owner, is fsynced, and replaces the
original with one ``rename``; then the directory is fsynced so the rename survives a crash.
A reader (a watching flagkit process, an editor) therefore sees the old file or the new one,
never a mix, and a process killed at any point leaves the original intact.

Two flagkit edits never interleave: :func:`edit_lock` holds an advisory lock (``flock``) on
the file's directory from before the read to after the rename, so a second ``flagkit kill``
waits, then reads the first one's result and applies its own change to it. (The directory,
not the file, because the rename replaces the file's inode; and no lock file is left behind.)
Writers that take no lock (an editor, a deploy tool) are still caught: just before the rename
the original is read again and compared with the bytes the command started from (and its
inode, size and modification time); if anything differs, nothing is written. A symlinked path
is resolved, so the link's target is replaced, not the link.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["ConcurrentEdit", "ReadFile", "WriteError", "edit_lock", "read_for_edit", "replace_file"]

LOCK_TIMEOUT = 30.0
"""Seconds an edit waits for another flagkit edit of the same directory before giving up."""

PAUSE_ENV = "FLAGKIT_TEST_PAUSE_BEFORE_RENAME"
"""Tests only: a path (a FIFO or a file) read to its end after the temporary file is written
and before the final check and rename, so a test can act at exactly that point."""
TEMP_SUFFIX = ".flagkit-tmp"


class WriteError(Exception):
    """The file could not be replaced (the original is left as it was)."""


class ConcurrentEdit(WriteError):
    """The file changed after it was read."""


@dataclass(frozen=True, slots=True)
class ReadFile:
    """A file as read for editing: its bytes, and what identifies this version of it."""

    path: str
    real_path: str
    data: bytes
    inode: int
    device: int
    size: int
    mtime_ns: int
    mode: int
    uid: int
    gid: int


def read_for_edit(path: str) -> ReadFile:
    """Read ``path`` (following symlinks) and remember its identity.

    Raises:
        OSError: It cannot be read.
    """
    real = os.path.realpath(path)
    with open(real, "rb") as fh:
        info = os.fstat(fh.fileno())
        data = fh.read()
    if not stat.S_ISREG(info.st_mode):
        raise IsADirectoryError(f"{path} is not a regular file")
    return ReadFile(
        path, real, data, info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns,
        stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid,
    )  # fmt: skip


@contextlib.contextmanager
def edit_lock(path: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the advisory edit lock of ``path``'s directory (its real file's, through symlinks).

    Taken before the file is read and released after it is replaced, so concurrent flagkit
    edits of one file run one after the other and none is lost. A directory that cannot be
    opened or a file system without ``flock`` gets no lock (the read or the pre-rename check
    then decides); the lock goes with the process, so a killed editor never leaves it held.

    Raises:
        WriteError: Another edit held the lock for ``timeout`` seconds.
    """
    directory = os.path.dirname(os.path.realpath(path)) or "."
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + timeout
        pause = 0.002
        locked = True
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WriteError(
                        f"another flagkit edit in {directory} has held its lock for {timeout:g} s; "
                        "nothing was written: try again"
                    ) from None
                time.sleep(pause)  # polling, so the wait is bounded
                pause = min(pause * 2, 0.05)
            except OSError:  # no flock here (some network file systems): the check remains
                locked = False
                break
        try:
            yield
        finally:
            if locked:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _unchanged(original: ReadFile) -> bool:
    try:
        with open(original.real_path, "rb") as fh:
            info = os.fstat(fh.fileno())
            data = fh.read()
    except OSError:
        return False
    return (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns) == (
        original.inode, original.device, original.size, original.mtime_ns,
    ) and data == original.data  # fmt: skip


def _pause_for_tests() -> None:
    pause = os.environ.get(PAUSE_ENV)
    if pause:
        with open(pause, "rb") as fh:  # a FIFO blocks here until the test opens it for writing
            fh.read()


def replace_file(original: ReadFile, data: bytes) -> None:
    """Atomically replace ``original`` with ``data``, refusing if it changed since it was read.

    Raises:
        ConcurrentEdit: The file changed (or vanished) after it was read; nothing written.
        WriteError: The temporary file could not be written, given the original's owner, or
            renamed; nothing written.
    """
    directory = os.path.dirname(original.real_path) or "."
    name = os.path.basename(original.real_path)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=TEMP_SUFFIX, dir=directory)
    except OSError as exc:
        raise WriteError(f"cannot create a temporary file in {directory} ({exc.strerror or exc})") from None
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fchmod(fh.fileno(), original.mode)
                info = os.fstat(fh.fileno())
                if (info.st_uid, info.st_gid) != (original.uid, original.gid):
                    try:
                        os.fchown(fh.fileno(), original.uid, original.gid)
                    except PermissionError:
                        raise WriteError(
                            f"cannot keep the owner ({original.uid}:{original.gid}) of {original.path}: "
                            "run as that user (or root)"
                        ) from None
                os.fsync(fh.fileno())
        except OSError as exc:
            raise WriteError(f"cannot write {temp} ({exc.strerror or exc})") from None
        _pause_for_tests()
        if not _unchanged(original):
            raise ConcurrentEdit(
                f"{original.path} changed while flagkit was editing it (someone else saved it?); "
                "nothing was written: run the command again on the new version"
            )
        try:
            os.replace(temp, original.real_path)
        except OSError as exc:
            raise WriteError(f"cannot replace {original.path} ({exc.strerror or exc})") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):  # not every file system can fsync a directory
        dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
