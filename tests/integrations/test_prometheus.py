"""Prometheus metrics: a real CollectorRegistry, scraped as text and over a real HTTP server."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from flagkit import FileProvider, Flags
from flagkit.integrations.prometheus import STATES, FlagkitCollector

from .conftest import wait_for, write_flags

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(registry: CollectorRegistry) -> Samples:
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, Flags]]:
    path = tmp_path / "features.yaml"
    write_flags(path, "features:\n  a: true\n  b: 2\n")
    with Flags(FileProvider(path, poll_interval=0.1)) as flags:
        assert flags.wait_ready(10)
        yield path, flags


@pytest.mark.slow
def test_provider_health_gauges(registry: CollectorRegistry, watched: tuple[Path, Flags]) -> None:
    _, flags = watched
    registry.register(FlagkitCollector(flags))
    (name,) = flags.status()
    status = flags.status()[name]
    samples = scrape(registry)
    assert value(samples, "flagkit_ready") == 1
    assert value(samples, "flagkit_provider_state", provider=name, state="ready") == 1
    assert sum(value(samples, "flagkit_provider_state", provider=name, state=s) for s in STATES) == 1
    assert value(samples, "flagkit_provider_flags", provider=name) == 2
    assert value(samples, "flagkit_provider_errors_total", provider=name) == 0
    assert status.last_success is not None
    assert value(samples, "flagkit_provider_last_success_timestamp_seconds", provider=name) == pytest.approx(
        status.last_success
    )
    assert value(samples, "flagkit_provider_info", provider=name, version=str(status.version)) == 1


@pytest.mark.slow
def test_the_fresh_gauge_moves_while_the_file_is_unchanged(
    registry: CollectorRegistry, watched: tuple[Path, Flags]
) -> None:
    """The alert of docs/monitoring.md is built on this gauge: an unchanged source that is
    checked successfully must keep it moving (the last_success gauge stays at the load)."""
    _, flags = watched
    registry.register(FlagkitCollector(flags))
    (name,) = flags.status()
    loaded = flags.status()[name].last_success
    first = value(scrape(registry), "flagkit_provider_fresh_timestamp_seconds", provider=name)
    assert wait_for(
        lambda: (
            value(scrape(registry), "flagkit_provider_fresh_timestamp_seconds", provider=name) > first + 0.3
        ),
        10,
    )
    samples = scrape(registry)
    assert value(samples, "flagkit_provider_last_success_timestamp_seconds", provider=name) == loaded
    status = flags.status()[name]
    assert value(samples, "flagkit_provider_fresh_timestamp_seconds", provider=name) == pytest.approx(
        status.fresh_at
    )


@pytest.mark.slow
def test_a_broken_source_shows_at_the_next_scrape(
    registry: CollectorRegistry, watched: tuple[Path, Flags]
) -> None:
    path, flags = watched
    registry.register(FlagkitCollector(flags))
    (name,) = flags.status()
    write_flags(path, "features: [broken\n")
    assert wait_for(lambda: flags.status()[name].state == "stale", 10)
    samples = scrape(registry)
    assert value(samples, "flagkit_provider_state", provider=name, state="stale") == 1
    assert value(samples, "flagkit_provider_state", provider=name, state="ready") == 0
    assert value(samples, "flagkit_provider_errors_total", provider=name) >= 1
    assert value(samples, "flagkit_provider_flags", provider=name) == 2  # the last good flags are served


def test_a_provider_that_never_loaded(registry: CollectorRegistry, tmp_path: Path) -> None:
    with Flags(FileProvider(tmp_path / "missing.yaml", watch=False)) as flags:
        registry.register(FlagkitCollector(flags, namespace="shop_flags"))
        samples = scrape(registry)
    (name,) = {dict(labels).get("provider") for (n, labels) in samples if n == "shop_flags_provider_state"}
    assert name is not None
    assert value(samples, "shop_flags_ready") == 0
    assert value(samples, "shop_flags_provider_state", provider=name, state="error") == 1
    assert ("shop_flags_provider_last_success_timestamp_seconds", (("provider", name),)) not in samples


@pytest.mark.slow
def test_scraped_over_http(registry: CollectorRegistry) -> None:
    with Flags.from_dict({"a": True}) as flags:
        registry.register(FlagkitCollector(flags))
        server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
        try:
            port = server.server_address[1]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
                assert response.status == 200
                body = response.read().decode()
        finally:
            server.shutdown()
            server.server_close()
            thread.join(30)
    assert "# TYPE flagkit_provider_errors_total counter" in body
    assert 'flagkit_provider_state{provider="dict",state="ready"} 1.0' in body


def test_rejects_non_clients() -> None:
    with pytest.raises(TypeError, match="Flags"):
        FlagkitCollector("flags")  # type: ignore[arg-type]  # misuse on purpose


def test_evaluation_counters_from_usage(registry: CollectorRegistry) -> None:
    doc = {"features": {"canary": {"rules": [{"serve": {"on": 5, "off": 95}}]}, "idle": True}}
    with Flags.from_dict(doc, usage=True) as flags:
        registry.register(FlagkitCollector(flags))
        on = sum(flags.is_enabled("canary", {"user_id": f"user-{i}"}) for i in range(2000))
        flags.is_enabled("canary")  # no bucketing attribute: the default variant
        samples = scrape(registry)
        usage = flags.usage()
    assert usage is not None
    assert value(samples, "flagkit_flag_evaluations_total", flag="canary", variant="on", reason="SPLIT") == on
    assert (
        value(samples, "flagkit_flag_evaluations_total", flag="canary", variant="off", reason="SPLIT")
        == 2000 - on
    )
    assert (
        value(samples, "flagkit_flag_evaluations_total", flag="canary", variant="off", reason="DEFAULT") == 1
    )
    assert 50 < on < 150
    evaluation_series = [labels for (name, labels) in samples if name == "flagkit_flag_evaluations_total"]
    assert len(evaluation_series) == 3  # flag x variant x reason, never per user
    assert value(samples, "flagkit_flag_last_evaluated_timestamp_seconds", flag="canary") == pytest.approx(
        usage["flags"]["canary"]["last_seen"]
    )
    assert ("flagkit_flag_last_evaluated_timestamp_seconds", (("flag", "idle"),)) not in samples


def test_code_default_and_errors_have_their_own_variant_labels(registry: CollectorRegistry) -> None:
    doc = {
        "features": {
            "f": {
                "variants": {"None": 1, "x": 2},  # a variant really named "None"
                "default": "code_default",
                "rules": [{"when": {"n": True}, "serve": "None"}],
            }
        }
    }
    with Flags.from_dict(doc, usage=True) as flags:
        registry.register(FlagkitCollector(flags))
        assert flags.get_value("f", 7) == 7  # the caller's default
        assert flags.get_value("f", 7, {"n": True}) == 1
        assert flags.get_value("f", "wrong type", {"n": True}) == "wrong type"  # TYPE_MISMATCH
        samples = scrape(registry)
    evaluations = {
        dict(labels)["variant"]: (dict(labels)["reason"], n)
        for (name, labels), n in samples.items()
        if name == "flagkit_flag_evaluations_total"
    }
    assert evaluations == {"code_default": ("DEFAULT", 1), "None": ("TARGETING_MATCH", 1), "": ("ERROR", 1)}


def test_no_evaluation_series_without_usage(registry: CollectorRegistry) -> None:
    with Flags.from_dict({"a": True}) as flags:
        registry.register(FlagkitCollector(flags))
        flags.is_enabled("a")
        samples = scrape(registry)
    assert not [name for name, _ in samples if name.startswith("flagkit_flag_")]
