"""Prometheus metrics for flagkit, read at scrape time by a custom collector.

::

    from prometheus_client import REGISTRY, start_http_server
    from flagkit.integrations.prometheus import FlagkitCollector

    REGISTRY.register(FlagkitCollector(flags))
    start_http_server(9108, addr="127.0.0.1")

Metrics (every label value is a provider name, a flag key, a variant name, a reason or a
provider state, so the number of series is bounded by the flag files, never by users):

==============================================  =======  ==================================================
``flagkit_ready``                               gauge    1 once every provider has loaded once
``flagkit_provider_state{provider,state}``      gauge    1 for the provider's current state (``ready``,
                                                         ``stale``, ``error``, ``not_ready``), 0 for others
``flagkit_provider_flags{provider}``            gauge    flags the provider contributes
``flagkit_provider_last_success_timestamp_seconds{provider}``
                                                gauge    Unix time of the last load that changed
                                                         what it serves (not moved by an unchanged
                                                         source: alert on the next one)
``flagkit_provider_fresh_timestamp_seconds{provider}``
                                                gauge    Unix time of the last successful check of
                                                         the source (a load, a 304, an unchanged
                                                         file or Redis version): ``ProviderStatus.fresh_at``
``flagkit_provider_errors_total{provider}``     counter  failed loads since start
``flagkit_provider_info{provider,version}``     gauge    1, labelled with the version served
``flagkit_flag_evaluations_total{flag,variant,reason}``
                                                counter  evaluations, from the client's usage counters
``flagkit_flag_last_evaluated_timestamp_seconds{flag}``
                                                gauge    Unix time of the flag's last evaluation
==============================================  =======  ==================================================

The ``variant`` label is the variant name, ``code_default`` when the flag served the caller's
default, or ``""`` with reason ``ERROR`` when the caller got its own default because the
evaluation failed (see :mod:`flagkit._observe.usage`).

The two ``flagkit_flag_*`` families have samples only when the client counts usage
(``Flags(..., usage=True)`` or ``flags.enable_usage()``). Nothing is added to the evaluation
path: the collector reads ``flags.status()`` and ``flags.usage()`` when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from flagkit import Flags
from flagkit._client.flags import State

__all__ = ["STATES", "FlagkitCollector"]

STATES: tuple[str, ...] = get_args(State)
"""Every provider state, each exported as a series of ``flagkit_provider_state``."""


class FlagkitCollector(Collector):
    """A ``prometheus_client`` collector of a :class:`flagkit.Flags` client's health.

    Args:
        flags: The client to report on.
        namespace: Prefix of every metric name.
    """

    def __init__(self, flags: Flags, *, namespace: str = "flagkit") -> None:
        if not isinstance(flags, Flags):
            raise TypeError(f"expected a flagkit Flags client, got {type(flags).__name__}")
        self.flags = flags
        self.namespace = namespace

    def describe(self) -> list[Metric]:
        """The metric families (without samples), so registration checks names up front."""
        return list(_Families(self.namespace))

    def collect(self) -> Iterator[Metric]:
        """Read ``flags.status()`` now and yield the families."""
        f = _Families(self.namespace)
        f.ready.add_metric([], 1.0 if self.flags.ready else 0.0)
        for name, status in self.flags.status().items():
            for state in STATES:
                f.state.add_metric([name, state], 1.0 if status.state == state else 0.0)
            f.flags.add_metric([name], float(status.flags))
            if status.last_success is not None:
                f.last_success.add_metric([name], status.last_success)
            if status.fresh_at is not None:
                f.fresh.add_metric([name], status.fresh_at)
            f.errors.add_metric([name], float(status.error_count))
            f.info.add_metric([name, status.version or ""], 1.0)
        usage = self.flags.usage()
        if usage is not None:
            for key, counts in usage["flags"].items():
                for variant, reasons in counts["variants"].items():
                    for reason, count in reasons.items():
                        f.evaluations.add_metric([key, str(variant), str(reason)], float(count))
                if counts["last_seen"] is not None:
                    f.last_seen.add_metric([key], float(counts["last_seen"]))
        yield from f


class _Families:
    """The families of one scrape (new each time: collectors must not share samples)."""

    def __init__(self, n: str) -> None:
        provider = ["provider"]
        self.ready = GaugeMetricFamily(f"{n}_ready", "1 once every provider has loaded its flags once")
        self.state = GaugeMetricFamily(
            f"{n}_provider_state", "1 for the provider's current state", labels=["provider", "state"]
        )
        self.flags = GaugeMetricFamily(
            f"{n}_provider_flags", "Flags the provider contributes", labels=provider
        )
        self.last_success = GaugeMetricFamily(
            f"{n}_provider_last_success_timestamp_seconds",
            "Unix time of the provider's last good load",
            labels=provider,
        )
        self.fresh = GaugeMetricFamily(
            f"{n}_provider_fresh_timestamp_seconds",
            "Unix time of the provider's last successful check of its source (changed or not)",
            labels=provider,
        )
        self.errors = CounterMetricFamily(f"{n}_provider_errors", "Failed loads since start", labels=provider)
        self.info = GaugeMetricFamily(
            f"{n}_provider_info", "The version each provider serves", labels=["provider", "version"]
        )

        self.evaluations = CounterMetricFamily(
            f"{n}_flag_evaluations",
            "Evaluations by flag, variant and reason",
            labels=["flag", "variant", "reason"],
        )
        self.last_seen = GaugeMetricFamily(
            f"{n}_flag_last_evaluated_timestamp_seconds",
            "Unix time of the flag's last evaluation",
            labels=["flag"],
        )

    def __iter__(self) -> Iterator[Metric]:
        yield from (self.ready, self.state, self.flags, self.last_success, self.fresh, self.errors, self.info)
        yield from (self.evaluations, self.last_seen)
