"""OpenTelemetry: record flag evaluations as span events (and optionally a counter metric).

::

    from flagkit.integrations.opentelemetry import OpenTelemetryHook

    flags.add_hook(OpenTelemetryHook())                       # span events on the current span
    flags.add_hook(OpenTelemetryHook(metrics=True))           # + the feature_flag.evaluations counter

Each evaluation made while a span is recording adds an event named
``feature_flag.evaluation`` to that span, with the attribute names of OpenTelemetry's
feature-flag semantic conventions:

=================================  ================================================================
``feature_flag.key``               the flag key
``feature_flag.result.variant``    the variant served (absent when the default was returned on error)
``feature_flag.result.reason``     the reason, lower snake case (``targeting_match``, ``split``, ...)
``feature_flag.provider.name``     the provider that serves the flag (``override`` for test overrides)
``feature_flag.context.id``        the targeting key (``targeting_key``, else ``user_id``), if any
``error.type``                     the error code, lower snake case (``flag_not_found``, ...), on error
``error.message``                  the error message, on error
``feature_flag.result.value``      the value, only with ``record_value=True``
=================================  ================================================================

No other context attribute is recorded unless named in ``context_attributes``: the context
holds user data. The counter (``feature_flag.evaluations``, attributes key, variant, reason
and provider name) has a number of series bounded by flags, variants and reasons: evaluations
of undefined keys are counted in one series without a key (``error.type`` ``flag_not_found``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from flagkit import ErrorCode, Evaluation, Hook, HookContext
from flagkit._engine.compiler import DEFAULT_BUCKET_ATTRIBUTES

__all__ = ["EVENT_NAME", "METRIC_NAME", "OpenTelemetryHook"]

EVENT_NAME = "feature_flag.evaluation"
"""The span event name the semantic conventions require."""
METRIC_NAME = "feature_flag.evaluations"
"""The counter's name (flagkit's; the conventions define no feature-flag metric yet)."""

_PRIMITIVES = (bool, str, int, float)

_NOT_FOUND_LABELS: Mapping[str, AttributeValue] = {
    "feature_flag.result.reason": "error",
    "error.type": "flag_not_found",
}
"""The counter's labels for every evaluation of an undefined key (no key label)."""


def _attribute(value: Any) -> AttributeValue:
    """A value as an OpenTelemetry attribute: primitives as they are, anything else as JSON."""
    if isinstance(value, _PRIMITIVES):
        return value
    return json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)


class OpenTelemetryHook(Hook):
    """A flagkit hook recording each evaluation on the current span (and in a counter).

    Args:
        record_value: Add ``feature_flag.result.value`` (off by default: values can be large
            or sensitive; the variant usually says enough).
        context_attributes: Context attribute names to record as ``feature_flag.context.<name>``
            (none by default: the context is user data).
        metrics: Count evaluations in the ``feature_flag.evaluations`` counter.
        meter_provider: Where the counter lives (default: the global meter provider).
    """

    def __init__(
        self,
        *,
        record_value: bool = False,
        context_attributes: Iterable[str] = (),
        metrics: bool = False,
        meter_provider: otel_metrics.MeterProvider | None = None,
    ) -> None:
        self.record_value = record_value
        self.context_attributes = tuple(context_attributes)
        self._counter: otel_metrics.Counter | None = None
        if metrics:
            from flagkit import __version__

            meter = otel_metrics.get_meter("flagkit", __version__, meter_provider=meter_provider)
            self._counter = meter.create_counter(
                METRIC_NAME,
                unit="{evaluation}",
                description="Feature flag evaluations by flag, variant and reason",
            )

    def finally_after(self, hook_context: HookContext, details: Evaluation[Any]) -> None:
        """Add the span event and count the evaluation."""
        span = trace.get_current_span()
        provider = hook_context.provider_name
        reason = details.reason.lower()
        if span.is_recording():
            attributes: dict[str, AttributeValue] = {
                "feature_flag.key": hook_context.flag_key,
                "feature_flag.result.reason": reason,
            }
            if details.variant is not None:
                attributes["feature_flag.result.variant"] = details.variant
            if provider is not None:
                attributes["feature_flag.provider.name"] = provider
            context_id = _context_id(hook_context.context)
            if context_id is not None:
                attributes["feature_flag.context.id"] = context_id
            if details.error_code is not None:
                attributes["error.type"] = details.error_code.lower()
                if details.error_message:
                    attributes["error.message"] = details.error_message
            if self.record_value and details.error_code is None:
                attributes["feature_flag.result.value"] = _attribute(details.value)
            for name in self.context_attributes:
                value = hook_context.context.get(name)
                if value is not None:
                    attributes[f"feature_flag.context.{name}"] = _attribute(value)
            span.add_event(EVENT_NAME, attributes)
        if self._counter is not None:
            if details.error_code is ErrorCode.FLAG_NOT_FOUND:
                # An undefined key (a typo, a key built at run time): one series for all of
                # them, so unknown keys cannot grow the series without bound.
                self._counter.add(1, _NOT_FOUND_LABELS)
                return
            labels = {"feature_flag.key": hook_context.flag_key, "feature_flag.result.reason": reason}
            if details.variant is not None:
                labels["feature_flag.result.variant"] = details.variant
            if provider is not None:
                labels["feature_flag.provider.name"] = provider
            self._counter.add(1, labels)


def _context_id(context: Mapping[str, Any]) -> str | None:
    for name in DEFAULT_BUCKET_ATTRIBUTES:
        value = context.get(name)
        if value is not None:
            return str(value)
    return None
