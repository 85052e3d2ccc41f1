"""Flag providers: where definitions come from."""

from .base import Provider, Report
from .dict import DictProvider
from .file import FileProvider

__all__ = ["DictProvider", "FileProvider", "Provider", "Report"]
