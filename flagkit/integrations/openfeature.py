"""OpenFeature provider: serve flagkit flags through the ``openfeature-sdk`` API.

::

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from flagkit import Flags
    from flagkit.integrations.openfeature import FlagkitProvider

    api.set_provider_and_wait(FlagkitProvider(Flags.from_file("features.yaml")))
    client = api.get_client()
    client.get_boolean_value("new_search", False, EvaluationContext("user-42", {"country": "US"}))

Mapping (see docs/integrations.md):

* the evaluation context's ``targeting_key`` becomes flagkit's ``targeting_key`` attribute,
  the first default bucketing attribute, so percentage splits stick to it; the attributes
  are passed as they are (an attribute named ``targeting_key`` is overridden by the key);
(``set_provider_and_wait``: ``set_provider`` initialises the provider in a thread, and an
evaluation before that is done returns the default with ``PROVIDER_NOT_READY``.)

* flagkit reasons map to OpenFeature's by name; ``PREREQUISITE_FAILED``, ``GUARD_TRIPPED``
  and ``OVERRIDE`` have no OpenFeature counterpart and are passed as those strings (the spec
  allows provider-defined reasons);
* flagkit error codes map by name; an unknown key before the first load is
  ``PROVIDER_NOT_READY``; a value of another type is ``TYPE_MISMATCH`` (a ``bool`` is never
  an ``int``; an ``int`` is accepted for a ``float`` and served as a float; an object is a
  mapping for a mapping default, a list for a list default);
* a flag serving ``code_default`` returns the caller's default with the flag's reason
  (``DEFAULT`` unless the flag is off) and no variant, for every type;
* the matching rule's name is in the flag metadata as ``rule``;
* provider events: ``PROVIDER_READY`` when the first load is in, and when every source is
  good again after an error (also with the same flags as before, as when a bad deploy is
  reverted: ``Flags.on_recover``),
  ``PROVIDER_CONFIGURATION_CHANGED`` with ``flags_changed`` (the changed keys) after a
  reload, ``PROVIDER_STALE`` when a source fails while its last good flags are served,
  ``PROVIDER_ERROR`` when a source fails before it ever loaded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode as OFErrorCode
from openfeature.exception import ProviderNotReadyError
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.provider import AbstractProvider, Metadata

from flagkit import ErrorCode, Evaluation, FlagNotFoundError, Flags, Reason
from flagkit._client.flags import _kind_words  # the client's words for a value's kind ("an integer")

__all__ = ["FlagkitProvider", "to_context"]

logger = logging.getLogger("flagkit")

T = TypeVar("T")
ObjectValue = Sequence[FlagValueType] | Mapping[str, FlagValueType]

_REASONS: Mapping[Reason, str] = {
    Reason.STATIC: OFReason.STATIC,
    Reason.TARGETING_MATCH: OFReason.TARGETING_MATCH,
    Reason.SPLIT: OFReason.SPLIT,
    Reason.DEFAULT: OFReason.DEFAULT,
    Reason.DISABLED: OFReason.DISABLED,
    Reason.ERROR: OFReason.ERROR,
    Reason.PREREQUISITE_FAILED: "PREREQUISITE_FAILED",
    Reason.OVERRIDE: "OVERRIDE",
    Reason.QA_OVERRIDE: "QA_OVERRIDE",
    Reason.GUARD_TRIPPED: "GUARD_TRIPPED",
}
_ERRORS: Mapping[ErrorCode, OFErrorCode] = {
    ErrorCode.FLAG_NOT_FOUND: OFErrorCode.FLAG_NOT_FOUND,
    ErrorCode.TYPE_MISMATCH: OFErrorCode.TYPE_MISMATCH,
    ErrorCode.PARSE_ERROR: OFErrorCode.PARSE_ERROR,
    ErrorCode.GENERAL: OFErrorCode.GENERAL,
}

_READY, _STALE, _ERROR, _INITIALIZING, _DETACHED = "ready", "stale", "error", "initializing", "detached"


class FlagkitProvider(AbstractProvider):
    """An OpenFeature provider backed by a :class:`flagkit.Flags` client.

    Args:
        flags: The client whose flags are served. The provider does not close it unless
            ``close_on_shutdown`` is true.
        name: The provider name in OpenFeature's metadata (and in its events).
        ready_timeout: How long ``initialize`` (run by ``api.set_provider``) waits for the
            first load before the provider reports an error. ``None`` waits forever.
        close_on_shutdown: Close ``flags`` when OpenFeature shuts the provider down.
    """

    def __init__(
        self,
        flags: Flags,
        *,
        name: str = "flagkit",
        ready_timeout: float | None = 10.0,
        close_on_shutdown: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(flags, Flags):
            raise TypeError(f"expected a flagkit Flags client, got {type(flags).__name__}")
        self.flags = flags
        self.name = name
        self.ready_timeout = ready_timeout
        self.close_on_shutdown = close_on_shutdown
        self._state = _DETACHED
        self._lock = threading.Lock()
        self._listening = False

    # --- lifecycle ----------------------------------------------------------------------

    def get_metadata(self) -> Metadata:
        """``Metadata(name=...)``."""
        return Metadata(name=self.name)

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Wait (up to ``ready_timeout``) for every flagkit provider's first load.

        Raises:
            ProviderNotReadyError: The flags did not load in time (OpenFeature then reports
                ``PROVIDER_ERROR``; the provider emits ``PROVIDER_READY`` once they do).
        """
        with self._lock:
            self._state = _INITIALIZING
            if not self._listening:  # flagkit listeners cannot be removed: register them once
                self._listening = True
                self.flags.on_change(self._changed)
                self.flags.on_error(self._failed)
                self.flags.on_recover(self._recovered)
        if not self.flags.wait_ready(self.ready_timeout):
            with self._lock:
                self._state = _ERROR
            problems = [s.last_error for s in self.flags.status().values() if s.last_error]
            detail = f": {problems[0]}" if problems else ""
            raise ProviderNotReadyError(f"flagkit flags not loaded after {self.ready_timeout} s{detail}")
        with self._lock:
            self._state = self._health()

    def shutdown(self) -> None:
        """Stop emitting events (and close the client when ``close_on_shutdown``)."""
        with self._lock:
            self._state = _DETACHED
        if self.close_on_shutdown:
            self.flags.close()

    def _health(self) -> str:
        states = {status.state for status in self.flags.status().values()}
        if "error" in states or "not_ready" in states:
            return _ERROR
        return _STALE if "stale" in states else _READY

    def _changed(self, keys: frozenset[str]) -> None:
        with self._lock:
            previous = self._state
            if previous in (_DETACHED, _INITIALIZING):
                return  # OpenFeature emits READY itself when initialize returns
            self._state = self._health()
            recovered = previous != _READY and self._state == _READY
        if recovered:
            self.emit_provider_ready(ProviderEventDetails(message="flags loaded"))
        self.emit_provider_configuration_changed(ProviderEventDetails(flags_changed=sorted(keys)))

    def _failed(self, provider_name: str, error: BaseException) -> None:
        with self._lock:
            previous = self._state
            if previous == _DETACHED:
                return
            state = self._health()
            if previous == _INITIALIZING or state == previous:
                return  # initialize reports it, or nothing new to say (the source keeps failing)
            self._state = state
        text = str(error)
        message = text if text.startswith(provider_name) else f"{provider_name}: {text}"
        if state == _STALE:
            self.emit_provider_stale(ProviderEventDetails(message=message))
        elif state == _ERROR:
            self.emit_provider_error(ProviderEventDetails(message=message, error_code=OFErrorCode.GENERAL))

    def _recovered(self, provider_name: str) -> None:
        """A source is good again, maybe with the same flags (no ``on_change`` then)."""
        self._recheck()

    def _recheck(self) -> None:
        """After STALE/ERROR: READY when every source is good again."""
        with self._lock:
            if self._state not in (_STALE, _ERROR):
                return
            state = self._health()
            if state != _READY:
                return
            self._state = state
        self.emit_provider_ready(ProviderEventDetails(message="flags loaded"))

    # --- resolution ---------------------------------------------------------------------

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        """Resolve a boolean flag."""
        return self._resolve(flag_key, default_value, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        """Resolve a string flag."""
        return self._resolve(flag_key, default_value, default_value, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        """Resolve an integer flag (a boolean or float value is a ``TYPE_MISMATCH``)."""
        return self._resolve(flag_key, default_value, default_value, evaluation_context)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        """Resolve a float flag (an integer value is served as a float)."""
        probe = float(default_value) if type(default_value) is int else default_value
        return self._resolve(flag_key, probe, default_value, evaluation_context)

    def resolve_object_details(
        self, flag_key: str, default_value: ObjectValue, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[ObjectValue]:
        """Resolve an object flag: a mapping for a mapping default, a list for a list (or tuple)
        default; another kind is a ``TYPE_MISMATCH``."""
        probe = default_value if isinstance(default_value, Mapping | list | tuple) else None
        return self._resolve(flag_key, probe, default_value, evaluation_context, objects=True)

    async def resolve_boolean_details_async(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        """Same as the sync method: evaluation is in memory and never waits."""
        return self.resolve_boolean_details(flag_key, default_value, evaluation_context)

    async def resolve_string_details_async(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        """Same as the sync method: evaluation is in memory and never waits."""
        return self.resolve_string_details(flag_key, default_value, evaluation_context)

    async def resolve_integer_details_async(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        """Same as the sync method: evaluation is in memory and never waits."""
        return self.resolve_integer_details(flag_key, default_value, evaluation_context)

    async def resolve_float_details_async(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        """Same as the sync method: evaluation is in memory and never waits."""
        return self.resolve_float_details(flag_key, default_value, evaluation_context)

    async def resolve_object_details_async(
        self, flag_key: str, default_value: ObjectValue, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[ObjectValue]:
        """Same as the sync method: evaluation is in memory and never waits."""
        return self.resolve_object_details(flag_key, default_value, evaluation_context)

    def _resolve(
        self,
        key: str,
        probe: Any,
        default: T,
        evaluation_context: EvaluationContext | None,
        *,
        objects: bool = False,
    ) -> FlagResolutionDetails[T]:
        if self._state in (_STALE, _ERROR):
            self._recheck()
        context = to_context(evaluation_context)
        try:
            result: Evaluation[Any] = self.flags.evaluate(key, probe, context)
        except FlagNotFoundError:  # strict mode raises for the application; OpenFeature wants a code
            return self._error(default, OFErrorCode.FLAG_NOT_FOUND, f"flag {key!r} is not defined")
        if result.error_code is not None:
            code = _ERRORS[result.error_code]
            if code is OFErrorCode.FLAG_NOT_FOUND and not self.flags.ready:
                code = OFErrorCode.PROVIDER_NOT_READY
            return self._error(default, code, result.error_message)
        value = result.value
        if objects and result.variant is None:  # code_default: the caller's default (any kind)
            value = default
        elif objects and not isinstance(value, Mapping | list | tuple):
            message = f"flag {key!r} serves {_kind_words(value)}, not an object"
            return self._error(default, OFErrorCode.TYPE_MISMATCH, message)
        return FlagResolutionDetails(
            value=value,
            reason=_REASONS[result.reason],
            variant=result.variant,
            flag_metadata={"rule": result.rule} if result.rule is not None else {},
        )

    @staticmethod
    def _error(default: T, code: OFErrorCode, message: str | None) -> FlagResolutionDetails[T]:
        return FlagResolutionDetails(
            value=default, error_code=code, error_message=message, reason=OFReason.ERROR
        )

    def __repr__(self) -> str:
        return f"<FlagkitProvider {self.name} {self.flags!r}>"


def to_context(evaluation_context: EvaluationContext | None) -> dict[str, Any] | None:
    """OpenFeature's evaluation context as a flagkit context.

    The attributes are copied as they are; the ``targeting_key`` (when set) is added under
    ``targeting_key``, flagkit's first default bucketing attribute.
    """
    if evaluation_context is None:
        return None
    attributes = evaluation_context.attributes
    if evaluation_context.targeting_key is None:
        return dict(attributes) if attributes else None
    return {**attributes, "targeting_key": evaluation_context.targeting_key}
