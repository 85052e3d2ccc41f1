"""FileProvider: flags from a YAML or JSON file."""

from __future__ import annotations

import os
from pathlib import Path

from ..flagset import FlagSet
from ..loading import MAX_DOCUMENT_BYTES
from .base import Provider, Report

__all__ = ["FileProvider"]


class FileProvider(Provider):
    """Flags from a YAML (``.yaml``/``.yml``) or JSON (``.json``) file.

    Args:
        path: The flag file.
        watch: Reload when the file changes.
        max_bytes: Size limit for the file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        watch: bool = True,
        max_bytes: int = MAX_DOCUMENT_BYTES,
    ) -> None:
        self.path = Path(path)
        super().__init__(name=f"file:{self.path}")
        self.watch = watch
        self.max_bytes = max_bytes

    def load(self) -> FlagSet:
        """Read and compile the file now."""
        return FlagSet.from_file(self.path, max_bytes=self.max_bytes)

    def start(self, report: Report) -> None:
        try:
            report(self.load())
        except Exception as exc:
            report(exc)
