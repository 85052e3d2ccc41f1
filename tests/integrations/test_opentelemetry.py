"""OpenTelemetryHook with the real OpenTelemetry SDK: in-memory span exporter and metric reader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flagkit import Flags
from flagkit.integrations.opentelemetry import EVENT_NAME, METRIC_NAME, OpenTelemetryHook
from flagkit.testing import override_flags

FLAGS = {
    "features": {
        "new_search": {
            "rules": [
                {"name": "staff", "when": {"plan": "staff"}, "serve": "on"},
                {"name": "canary", "serve": {"on": 5, "off": 95}},
            ]
        },
        "engine": {"variants": {"v1": {"model": "a"}, "v2": {"model": "b"}}, "default": "v1"},
    }
}


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Iterator[Any]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test")
    provider.shutdown()


@pytest.fixture
def flags() -> Iterator[Flags]:
    with Flags.from_dict(FLAGS) as client:
        yield client


def events(exporter: InMemorySpanExporter) -> list[dict[str, Any]]:
    spans: tuple[ReadableSpan, ...] = exporter.get_finished_spans()
    return [
        dict(event.attributes or {}) for span in spans for event in span.events if event.name == EVENT_NAME
    ]


def test_span_events_with_semantic_convention_names(
    flags: Flags, tracer: Any, exporter: InMemorySpanExporter
) -> None:
    flags.add_hook(OpenTelemetryHook())
    with tracer.start_as_current_span("GET /search"):
        assert flags.is_enabled("new_search", {"user_id": "u-1", "plan": "staff", "email": "a@b.c"})
        flags.variant("engine", {"targeting_key": "tk-9"})
        flags.get_value("missing", 3, {"user_id": "u-1"})
        flags.get_value("new_search", "x")  # a bool for a str default: TYPE_MISMATCH
    assert events(exporter) == [
        {
            "feature_flag.key": "new_search",
            "feature_flag.result.reason": "targeting_match",
            "feature_flag.result.variant": "on",
            "feature_flag.provider.name": "dict",
            "feature_flag.context.id": "u-1",
        },
        {
            "feature_flag.key": "engine",
            "feature_flag.result.reason": "static",
            "feature_flag.result.variant": "v1",
            "feature_flag.provider.name": "dict",
            "feature_flag.context.id": "tk-9",
        },
        {
            "feature_flag.key": "missing",
            "feature_flag.result.reason": "error",
            "feature_flag.context.id": "u-1",
            "error.type": "flag_not_found",
            "error.message": "flag 'missing' is not defined",
        },
        {
            "feature_flag.key": "new_search",
            "feature_flag.result.reason": "error",
            "feature_flag.provider.name": "dict",
            "error.type": "type_mismatch",
            "error.message": "flag 'new_search' serves a boolean, but the default is a string",
        },
    ]
    # user data never leaks: no attribute carries the plan or the e-mail address
    assert not any(
        "staff" in str(v) or "a@b.c" in str(v) for event in events(exporter) for v in event.values()
    )


def test_values_and_context_attributes_only_when_asked(
    flags: Flags, tracer: Any, exporter: InMemorySpanExporter
) -> None:
    flags.add_hook(OpenTelemetryHook(record_value=True, context_attributes=["plan"]))
    with tracer.start_as_current_span("job"):
        flags.evaluate("engine", None, {"plan": "pro"})
        with override_flags(flags, {"new_search": True}):
            flags.is_enabled("new_search")
    first, second = events(exporter)
    assert first["feature_flag.result.value"] == '{"model": "a"}'
    assert first["feature_flag.context.plan"] == "pro"
    assert "feature_flag.context.id" not in first
    assert (second["feature_flag.result.value"], second["feature_flag.result.reason"]) == (True, "override")
    assert second["feature_flag.provider.name"] == "override"


def test_no_span_no_event(flags: Flags, exporter: InMemorySpanExporter) -> None:
    flags.add_hook(OpenTelemetryHook())
    assert flags.is_enabled("new_search", {"plan": "staff"})  # outside any span: nothing to record on
    assert exporter.get_finished_spans() == ()


def test_counter_metric(flags: Flags) -> None:
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    flags.add_hook(OpenTelemetryHook(metrics=True, meter_provider=meter_provider))
    users = [f"user-{i}" for i in range(2000)]
    on = sum(flags.is_enabled("new_search", {"user_id": u}) for u in users)
    flags.is_enabled("new_search", {"plan": "staff"})
    data = reader.get_metrics_data()
    meter_provider.shutdown()
    assert data is not None
    points = {
        tuple(sorted(dict(point.attributes or {}).items())): point.value
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == METRIC_NAME
        for point in metric.data.data_points
    }
    base = (("feature_flag.key", "new_search"), ("feature_flag.provider.name", "dict"))

    def count(variant: str, reason: str) -> Any:
        key = tuple(
            sorted((*base, ("feature_flag.result.reason", reason), ("feature_flag.result.variant", variant)))
        )
        return points[key]

    assert count("on", "split") == on
    assert count("off", "split") == 2000 - on
    assert count("on", "targeting_match") == 1
    assert 50 < on < 150  # about 5 %
    assert len(points) == 3  # series: flag x variant x reason, never per user


def test_unknown_keys_share_one_counter_series(flags: Flags) -> None:
    # Every typo'd or dynamic key made its own feature_flag.key series: unbounded cardinality.
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    flags.add_hook(OpenTelemetryHook(metrics=True, meter_provider=meter_provider))
    for i in range(500):
        flags.is_enabled(f"dynamic_{i}", {"user_id": "u"})
        flags.get_value(f"typo_{i}", 3)
    flags.is_enabled("new_search", {"plan": "staff"})
    data = reader.get_metrics_data()
    meter_provider.shutdown()
    assert data is not None
    points = {
        tuple(sorted(dict(point.attributes or {}).items())): point.value
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == METRIC_NAME
        for point in metric.data.data_points
    }
    assert points == {
        (("error.type", "flag_not_found"), ("feature_flag.result.reason", "error")): 1000,
        (
            ("feature_flag.key", "new_search"),
            ("feature_flag.provider.name", "dict"),
            ("feature_flag.result.reason", "targeting_match"),
            ("feature_flag.result.variant", "on"),
        ): 1,
    }
