"""flagkit: embeddable feature flags for Python.

Flags load from providers (file, environment, HTTP, dict), compile once into plain callables,
and evaluate in process with targeting rules, segments, prerequisites, kill switches and
flagd-compatible percentage rollouts. See https://github.com/flagkit/flagkit docs/.

Everything public is importable from here; ``__all__`` is the list (tests/test_public_api.py
holds it too, so a name cannot become public by accident). The modules that define these names
are private (``flagkit._client``, ``flagkit._engine``, ``flagkit._observe``...): each export's
``__module__`` is ``"flagkit"``, so reprs, pickles and documentation name the public path.
``HttpProvider`` and ``RedisProvider`` are imported on first use, so that ``import flagkit``
does not load ``http.client`` and ``ssl`` (issue 19).
"""

import typing as _typing

from ._client.flags import Flags, ProviderStatus, Snapshot
from ._context import context, current_context
from ._default import (
    all_values,
    configure,
    evaluate,
    get_client,
    get_value,
    is_enabled,
    snapshot,
    variant,
    variants,
    when,
)
from ._engine.compiler import CompiledFlag, thawed
from ._exports import publish as _publish
from ._observe.exposures import Exposure
from ._observe.hooks import Hook, HookContext
from ._observe.usage import merge_usage, read_usage
from .codepaths.guards import Guard, GuardedBlock, GuardTrippedError
from .errors import ConfigError, ConfigIssue, FlagkitError, FlagNotFoundError, SourceError
from .evaluation import CODE_DEFAULT, ErrorCode, Evaluation, Reason
from .flagset import FlagSet
from .providers import DictProvider, EnvProvider, FileProvider, Provider

if _typing.TYPE_CHECKING:
    from .providers.http import HttpProvider
    from .providers.redis import RedisProvider

__version__ = "0.1.0.dev0"

__all__ = [
    "CODE_DEFAULT",
    "CompiledFlag",
    "ConfigError",
    "ConfigIssue",
    "DictProvider",
    "EnvProvider",
    "ErrorCode",
    "Evaluation",
    "Exposure",
    "FileProvider",
    "FlagNotFoundError",
    "FlagSet",
    "FlagkitError",
    "Flags",
    "Guard",
    "GuardTrippedError",
    "GuardedBlock",
    "Hook",
    "HookContext",
    "HttpProvider",
    "Provider",
    "ProviderStatus",
    "Reason",
    "RedisProvider",
    "Snapshot",
    "SourceError",
    "__version__",
    "all_values",
    "configure",
    "context",
    "current_context",
    "evaluate",
    "get_client",
    "get_value",
    "is_enabled",
    "merge_usage",
    "read_usage",
    "snapshot",
    "thawed",
    "variant",
    "variants",
    "when",
]

_LAZY = frozenset({"HttpProvider", "RedisProvider"})
"""Exports imported on first read (through ``flagkit.providers``, lazy the same way)."""


for _name in __all__:
    if not _name.startswith("__") and _name not in _LAZY:
        _publish(globals()[_name], __name__)
del _name


def __getattr__(name: str) -> _typing.Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import providers

    value = getattr(providers, name)  # published as flagkit.<name> there
    globals()[name] = value  # later reads are plain attribute loads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
