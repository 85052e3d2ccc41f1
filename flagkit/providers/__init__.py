"""Flag providers: where definitions come from."""

from .base import Provider, Report
from .dict import DictProvider
from .env import EnvProvider
from .file import FileProvider
from .http import HttpProvider
from .redis import RedisProvider

__all__ = [
    "DictProvider",
    "EnvProvider",
    "FileProvider",
    "HttpProvider",
    "Provider",
    "RedisProvider",
    "Report",
]
