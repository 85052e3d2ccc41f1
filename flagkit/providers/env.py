"""EnvProvider: flags from environment variables, read once at construction.

``FEATURE_NEW_CHECKOUT=true`` becomes the flag ``new_checkout``. Environment variables only
change with a restart, so nothing is watched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..errors import ConfigError, ConfigIssue
from ..flagset import FlagSet
from .base import Provider, Report

__all__ = ["EnvProvider", "parse_env_value"]

_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no"})
_INT_RE = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?\Z")


def parse_env_value(text: str) -> Any:
    """Turn one environment variable's value into a flag value or definition.

    ``true/false/1/0/on/off/yes/no`` (any case) → ``bool``; integers and decimals → numbers;
    a JSON object (``{...}``) → a full flag definition; anything else → the string as is.

    Raises:
        ValueError: The value looks like a JSON object but is not valid JSON.
    """
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    if _INT_RE.match(stripped):
        return int(stripped)
    if _FLOAT_RE.match(stripped):
        return float(stripped)
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON object: {exc.msg} (column {exc.colno})") from None
        if not isinstance(value, dict):  # pragma: no cover - "{" can only start an object
            raise ValueError("expected a JSON object")
        return value
    return text


class EnvProvider(Provider):
    """Flags from environment variables with a prefix.

    ``FEATURE_NEW_CHECKOUT=true`` → flag ``new_checkout`` (the prefix is removed and the
    rest lower-cased). Values: ``true/false/1/0/on/off/yes/no`` (case-insensitive) are
    booleans, numbers stay numbers, a JSON object is a full flag definition (variants,
    rules...), anything else is a string.

    The environment is read once, here: a change needs a restart.

    Args:
        prefix: Only variables starting with this (case-sensitive) are flags.
        environ: The mapping to read instead of ``os.environ`` (for tests).
        name: Label in ``status()``; default ``env:<prefix>*``.

    Raises:
        ConfigError: A variable cannot be parsed or defines an invalid flag; the message
            names the variable.

    Example:
        >>> provider = EnvProvider(environ={"FEATURE_NEW_CHECKOUT": "true"})
        >>> provider.flagset.flags["new_checkout"].default_variant
        'on'
    """

    def __init__(
        self,
        prefix: str = "FEATURE_",
        *,
        environ: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name or f"env:{prefix}*")
        self.prefix = prefix
        env = os.environ if environ is None else environ
        self.variables: dict[str, str] = {}
        """Flag key → the name of the variable that defined it."""
        features: dict[str, Any] = {}
        issues: list[ConfigIssue] = []
        for var in sorted(env):
            if not var.startswith(prefix) or len(var) == len(prefix):
                continue
            key = var[len(prefix) :].lower()
            if key in self.variables:
                issues.append(
                    ConfigIssue(f"defines flag {key!r} again (already set by {self.variables[key]})", (), var)
                )
                continue
            try:
                features[key] = parse_env_value(env[var])
            except ValueError as exc:
                issues.append(ConfigIssue(str(exc), (), var))
                continue
            self.variables[key] = var
        if issues:
            raise ConfigError(issues, self.name)
        digest = hashlib.sha256(repr(sorted(features.items())).encode()).hexdigest()[:16]
        try:
            flagset = FlagSet.from_dict({"features": features}, source=self.name)
        except ConfigError as exc:
            raise self._name_variables(exc) from None
        self.flagset = flagset.with_version(digest)

    def _name_variables(self, error: ConfigError) -> ConfigError:
        """Point each issue at the variable that defined the flag instead of the document."""
        issues = []
        for issue in error.issues:
            var = self.variables.get(issue.flag or "")
            if var is not None:
                issue = replace(issue, source=var, path=issue.path[2:], line=None)
            issues.append(issue)
        return ConfigError(issues, self.name)

    def start(self, report: Report) -> None:
        """Report the flags read at construction."""
        report(self.flagset)

    def after_fork(self, report: Report) -> None:
        """Nothing to restart: the flags were read at construction."""
