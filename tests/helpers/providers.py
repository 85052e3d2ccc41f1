"""A provider the test drives by hand: publish a new flag set or an error when the test says."""

from __future__ import annotations

from typing import Any

from flagkit import FlagSet, Provider
from flagkit.providers import Report


class ManualProvider(Provider):
    """A provider the test drives by hand."""

    def __init__(self, features: dict[str, Any] | None = None, name: str = "manual") -> None:
        super().__init__(name)
        self.report: Report | None = None
        self.initial = features

    def start(self, report: Report) -> None:
        self.report = report
        if self.initial is not None:
            self.publish(self.initial)

    def publish(self, features: dict[str, Any]) -> None:
        assert self.report is not None
        self.report(FlagSet.from_dict(features, source=self.name))

    def fail(self, exc: BaseException) -> None:
        assert self.report is not None
        self.report(exc)
