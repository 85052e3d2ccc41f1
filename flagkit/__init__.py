"""flagkit: embeddable feature flags for Python.

Flags load from providers (file, environment, HTTP, dict), compile once into plain callables,
and evaluate in process with targeting rules, segments, prerequisites, kill switches and
flagd-compatible percentage rollouts. See https://github.com/flagkit/flagkit docs/.
"""

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
from .client import Flags, ProviderStatus, Snapshot
from .compiler import CompiledFlag
from .context import context, current_context
from .errors import ConfigError, ConfigIssue, FlagkitError, FlagNotFoundError, SourceError
from .evaluation import ErrorCode, Evaluation, Reason
from .flagset import FlagSet
from .hooks import Hook, HookContext
from .providers import DictProvider, EnvProvider, FileProvider, HttpProvider, Provider, RedisProvider

__version__ = "0.1.0.dev0"

__all__ = [
    "CompiledFlag",
    "ConfigError",
    "ConfigIssue",
    "DictProvider",
    "EnvProvider",
    "ErrorCode",
    "Evaluation",
    "FileProvider",
    "FlagNotFoundError",
    "FlagSet",
    "FlagkitError",
    "Flags",
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
    "snapshot",
    "variant",
    "variants",
    "when",
]
