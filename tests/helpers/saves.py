"""Ways programs save a file, reproduced with real syscalls, plus a polling wait.

Each helper leaves the file with ``content`` the way a real tool would:

* :func:`write_in_place` - truncate and write the same inode (``>``, many editors, VS Code's
  default, config-management tools);
* :func:`write_vim_style` - move the original to a backup, write a fresh file, delete the
  backup (vim's default ``backupcopy=auto`` on Linux);
* :func:`write_atomic_rename` - write a temp file in the same directory and ``rename`` it over
  the target (VS Code's atomic save, most libraries' "safe write", ``mv``);
* :func:`write_sed_inplace` - run the real ``sed -i`` (temp file + rename);
* :func:`K8sConfigMap` - the kubelet's AtomicWriter layout: ``<name> -> ..data/<name>``,
  ``..data -> ..<timestamp>/``; an update writes a new timestamped directory, points
  ``..data_tmp`` at it and renames ``..data_tmp`` over ``..data``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = [
    "K8sConfigMap",
    "wait_until",
    "write_atomic_rename",
    "write_in_place",
    "write_sed_inplace",
    "write_vim_style",
]

T = TypeVar("T")


def wait_until(probe: Callable[[], T], timeout: float = 5.0, interval: float = 0.005) -> T:
    """Poll ``probe`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)


def write_in_place(path: Path, content: str) -> None:
    """Truncate and rewrite the same inode."""
    with open(path, "w") as fh:
        fh.write(content)


def write_atomic_rename(path: Path, content: str) -> None:
    """Write ``.name.tmp`` next to the file, then rename it over the file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_vim_style(path: Path, content: str) -> None:
    """vim's default: rename the original to ``name~``, write a new file, delete the backup."""
    backup = path.with_name(path.name + "~")
    if path.exists():
        os.rename(path, backup)
    with open(path, "w") as fh:
        fh.write(content)
    if backup.exists():
        backup.unlink()


def write_sed_inplace(path: Path, old: str, new: str) -> None:
    """Run the real ``sed -i s/old/new/`` (GNU sed writes a temp file and renames it)."""
    sed = shutil.which("sed")
    if sed is None:  # pragma: no cover - sed is everywhere the tests run
        raise RuntimeError("sed not found")
    subprocess.run([sed, "-i", f"s/{old}/{new}/", str(path)], check=True)


class K8sConfigMap:
    """A ConfigMap volume as the kubelet writes it, in ``directory``."""

    def __init__(self, directory: Path, files: dict[str, str]) -> None:
        self.directory = directory
        self.generation = 0
        directory.mkdir(parents=True, exist_ok=True)
        self._write_version(files)
        for name in files:
            os.symlink(os.path.join("..data", name), directory / name)

    def path(self, name: str) -> Path:
        """The user-visible path of a key (the symlink applications open)."""
        return self.directory / name

    def update(self, files: dict[str, str]) -> None:
        """Publish new content with the kubelet's ``..data`` symlink swap."""
        old = os.readlink(self.directory / "..data")
        self._write_version(files)
        shutil.rmtree(self.directory / old)

    def _write_version(self, files: dict[str, str]) -> None:
        self.generation += 1
        version = f"..2026_01_01_00_00_{self.generation:02d}.{os.getpid()}"
        version_dir = self.directory / version
        version_dir.mkdir()
        for name, content in files.items():
            (version_dir / name).write_text(content)
        tmp_link = self.directory / "..data_tmp"
        os.symlink(version, tmp_link)
        os.replace(tmp_link, self.directory / "..data")
