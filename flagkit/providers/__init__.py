"""Flag providers: where definitions come from.

``HttpProvider`` and ``RedisProvider`` are imported on first use (module ``__getattr__``), so
that ``import flagkit`` does not load ``http.client`` and ``ssl`` (nor the HTTP fetcher) for an
application that reads a file (issue 19). Every export's public home is ``flagkit`` (its
``__module__``), except ``Report``, a type alias that lives here.
"""

import typing as _typing

from .._exports import publish as _publish
from .base import Provider, Report
from .dict import DictProvider
from .env import EnvProvider
from .file import FileProvider

if _typing.TYPE_CHECKING:
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

_LAZY = {"HttpProvider": "http", "RedisProvider": "redis"}
"""Public name -> submodule that defines it, imported when the name is first read."""


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value: type[Provider]
    if module == "http":
        from .http import HttpProvider as value
    else:
        from .redis import RedisProvider as value
    _publish(value, "flagkit")  # its public home, as for the eager exports (set by flagkit/__init__)
    globals()[name] = value  # later reads are plain attribute loads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
