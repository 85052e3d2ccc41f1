"""Cost of the observability integrations per evaluation: ns per call, best of several repeats.

Run with `make bench-integrations` (needs the `otel` and `openfeature` extras, in `dev`). The
rollout flag (S3 of bench_eval: a 10 % split bucketed by user_id) is evaluated over 1,000 users:

* `is_enabled` with no hook (the baseline), with `OpenTelemetryHook` outside any span, inside
  a recording span (one span event per evaluation), and with its counter;
* `FlagkitProvider.resolve_boolean_details` (the provider alone) and the OpenFeature client's
  `get_boolean_value` (the SDK's own hook and context machinery on top).
"""

from __future__ import annotations

from typing import Any

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

import flagkit
from flagkit.integrations.openfeature import FlagkitProvider
from flagkit.integrations.opentelemetry import OpenTelemetryHook

from .bench_eval import FLAGS, USERS, measure

KEY = "s3_rollout"
CONTEXTS = [EvaluationContext(None, user) for user in USERS]


def report(label: str, best_median: tuple[float, float]) -> None:
    best, median = best_median
    print(f"{label:<52} {best:>9.0f} ns  (median {median:.0f})")


def main() -> None:
    plain = flagkit.Flags.from_dict(FLAGS)
    report("is_enabled, no hook", measure(lambda u: plain.is_enabled(KEY, u)))

    hooked = flagkit.Flags.from_dict(FLAGS)
    hooked.add_hook(OpenTelemetryHook())
    report("is_enabled + OpenTelemetryHook, no span", measure(lambda u: hooked.is_enabled(KEY, u)))
    tracer = TracerProvider().get_tracer("bench")
    with tracer.start_as_current_span("request"):
        # one span collecting 1,000 events per pass; a real request records a handful
        report(
            "is_enabled + OpenTelemetryHook, recording span",
            measure(lambda u: hooked.is_enabled(KEY, u), repeats=5, loops=10),
        )

    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    counted = flagkit.Flags.from_dict(FLAGS)
    counted.add_hook(OpenTelemetryHook(metrics=True, meter_provider=meter_provider))
    report("is_enabled + OpenTelemetryHook(metrics), no span", measure(lambda u: counted.is_enabled(KEY, u)))
    meter_provider.shutdown()

    provider = FlagkitProvider(plain)
    by_user: dict[int, EvaluationContext] = {id(u): c for u, c in zip(USERS, CONTEXTS, strict=True)}

    def resolve(user: dict[str, Any]) -> Any:
        return provider.resolve_boolean_details(KEY, False, by_user[id(user)])

    report("FlagkitProvider.resolve_boolean_details", measure(resolve))
    api.set_provider_and_wait(provider)
    client = api.get_client()
    report(
        "openfeature client.get_boolean_value",
        measure(lambda u: client.get_boolean_value(KEY, False, by_user[id(u)]), repeats=5, loops=20),
    )
    api.shutdown()
    for flags in (plain, hooked, counted):
        flags.close()


if __name__ == "__main__":
    main()
