"""Flag files on disk: opened without ever blocking, written atomically.

``open()`` on a FIFO waits for a writer, forever if none comes; a directory cannot be read;
a device such as ``/dev/zero`` never ends. The file is opened non-blocking and checked with
``fstat`` on the descriptor actually opened, so a swap between a check and the open cannot
sneak one in.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

__all__ = ["NotRegularFileError", "atomic_write", "describe_mode", "open_regular"]

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class NotRegularFileError(OSError):
    """The path is a FIFO, a directory, a device or a socket, not a regular file.

    Attributes:
        detail: The message without the path, e.g. ``not a regular file (a FIFO); ...``.
    """

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        self.detail = f"not a regular file ({kind}); flags are read from regular files only"
        super().__init__(f"{os.fspath(path)}: {self.detail}")


def describe_mode(mode: int) -> str | None:
    """``"a FIFO"``, ``"a directory"``... for a non-regular file; None for a regular one."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file (symlinks followed).

    Raises:
        NotRegularFileError: It is a FIFO, directory, device or socket.
        OSError: It cannot be opened.
    """
    fd = os.open(path, _FLAGS)
    try:
        kind = describe_mode(os.fstat(fd).st_mode)
        if kind is not None:
            raise NotRegularFileError(path, kind)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``.

    Readers see the old file or the new one, never a partial write; the file is private
    (mode 0600) because flag payloads may be internal.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
