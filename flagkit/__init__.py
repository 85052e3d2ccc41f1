"""flagkit: embeddable feature flags for Python.

Flags load from providers (file, environment, HTTP, dict), compile once into plain callables,
and evaluate in process with targeting rules, segments, prerequisites, kill switches and
flagd-compatible percentage rollouts. See https://github.com/flagkit/flagkit docs/.
"""

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
from ._engine.compiler import CompiledFlag
from ._observe.exposures import Exposure
from ._observe.hooks import Hook, HookContext
from .codepaths.guards import Guard, GuardedBlock, GuardTrippedError
from .errors import ConfigError, ConfigIssue, FlagkitError, FlagNotFoundError, SourceError
from .evaluation import CODE_DEFAULT, ErrorCode, Evaluation, Reason
from .flagset import FlagSet
from .providers import DictProvider, EnvProvider, FileProvider, HttpProvider, Provider, RedisProvider

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
    "snapshot",
    "variant",
    "variants",
    "when",
]
