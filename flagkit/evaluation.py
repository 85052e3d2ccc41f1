"""The result of evaluating a flag: value, variant, reason, and error details."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

__all__ = ["CODE_DEFAULT", "CODE_DEFAULT_NAME", "ErrorCode", "Evaluation", "Reason"]

T = TypeVar("T")

CODE_DEFAULT_NAME = "code_default"
"""The word a flag file uses for "the default the calling code passed" (``default``,
``off_variant``, ``serve``, a split arm); no variant may have this name."""


class _CodeDefault:
    __slots__ = ()

    def __repr__(self) -> str:
        return "CODE_DEFAULT"

    def __reduce__(self) -> str:
        return "CODE_DEFAULT"  # pickles as the module-level singleton


CODE_DEFAULT: Any = _CodeDefault()
"""What a compiled resolver serves for ``code_default``: the client replaces it with the
caller's default (``get_value``), ``False`` (``is_enabled``) or ``None`` (``variant``)."""


class Reason(StrEnum):
    """Why a value was served (OpenFeature's vocabulary, plus OVERRIDE for tests)."""

    STATIC = "STATIC"
    """The flag has no rules: every caller gets the same value."""
    TARGETING_MATCH = "TARGETING_MATCH"
    """A rule's conditions matched and it served a fixed variant."""
    SPLIT = "SPLIT"
    """A percentage split picked the variant by hashing the bucketing attribute."""
    DEFAULT = "DEFAULT"
    """No rule matched (or a split had no bucketing attribute); the default variant was served."""
    DISABLED = "DISABLED"
    """The flag's kill switch (``enabled: false``) is on: it is switched off (its
    ``off_variant``, else its ``false`` variant, else its default; see
    :func:`flagkit._engine.compiler.off_variant_name`)."""
    PREREQUISITE_FAILED = "PREREQUISITE_FAILED"
    """A flag listed in ``requires`` was not on: the flag is switched off, as for ``DISABLED``."""
    GUARD_TRIPPED = "GUARD_TRIPPED"
    """A guarded code path failed too often: this process switches the flag off, as for
    ``DISABLED``, for a cool-down (see :class:`flagkit.codepaths.guards.Guard`)."""
    OVERRIDE = "OVERRIDE"
    """A test override (:func:`flagkit.testing.override_flags`) supplied the value."""
    QA_OVERRIDE = "QA_OVERRIDE"
    """A tester forced the variant for their own browser (the framework integrations' QA
    overrides: a query parameter and cookie, granted by the app's permission callable)."""
    ERROR = "ERROR"
    """The caller's default was returned; see ``error_code``."""


class ErrorCode(StrEnum):
    """Why an evaluation returned the caller's default with reason ERROR."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    PARSE_ERROR = "PARSE_ERROR"
    GENERAL = "GENERAL"


@dataclass(slots=True)
class Evaluation(Generic[T]):
    """Details of one flag evaluation. Treat it as read-only.

    (Not a frozen dataclass on purpose: frozen construction costs ~1 µs, five times the rest
    of an evaluation.)

    Attributes:
        key: The flag key.
        value: The value served (the caller's default when ``reason`` is ERROR).
        variant: The variant name served, or ``None`` when the default was returned on error.
        reason: Why this value was served.
        rule: The name (or ``rules[i]`` index label) of the rule that matched, if any.
        error_code: Set when ``reason`` is ERROR.
        error_message: Human-readable error details, set when ``reason`` is ERROR.
    """

    key: str
    value: T
    variant: str | None
    reason: Reason
    rule: str | None = None
    error_code: ErrorCode | None = None
    error_message: str | None = None

    @property
    def is_error(self) -> bool:
        """True when the caller's default was returned because of an error."""
        return self.reason is Reason.ERROR

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields (enums as strings)."""
        return {
            "key": self.key,
            "value": self.value,
            "variant": self.variant,
            "reason": str(self.reason),
            "rule": self.rule,
            "error_code": str(self.error_code) if self.error_code else None,
            "error_message": self.error_message,
        }
