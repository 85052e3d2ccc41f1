"""The supervisor's records, read without threads: each provider's slot and its status."""

from __future__ import annotations

import threading

from flagkit import DictProvider, Flags, FlagSet
from flagkit._client.supervisor import ProviderSlot, Supervisor
from tests.helpers.providers import ManualProvider


def test_a_slot_reports_each_state() -> None:
    slot = ProviderSlot(DictProvider({}, name="d"))
    assert slot.status("d").state == "not_ready"
    assert slot.fresh_at() is None
    slot.error = RuntimeError("down")
    assert slot.status("d").state == "error"
    supervisor = Supervisor((slot.provider,), threading.RLock(), lambda index: lambda result: None)
    (real,) = supervisor.slots
    assert supervisor.delivered(real, FlagSet.from_dict({"features": {"a": True}})) is False
    assert real.status("d").state == "ready"
    assert supervisor.failed(real, RuntimeError("again")) == "again"
    assert supervisor.failed(real, RuntimeError("again")) is None  # logged once per message
    status = real.status("d")
    assert (status.state, status.flags, status.error_count, status.last_error) == ("stale", 1, 2, "again")
    assert supervisor.delivered(real, FlagSet.from_dict({"features": {}})) is True  # it recovers
    real.dead = True
    assert real.status("d").state == "error"


def test_readiness_waits_for_every_provider() -> None:
    supervisor = Supervisor(
        (DictProvider({}, name="a"), DictProvider({}, name="b")), threading.RLock(), lambda i: lambda r: None
    )
    first, second = supervisor.slots
    supervisor.delivered(first, FlagSet.from_dict({"features": {}}))
    supervisor.check_ready()
    assert not supervisor.ready.is_set()
    supervisor.delivered(second, FlagSet.from_dict({"features": {}}))
    supervisor.check_ready()
    assert supervisor.ready.is_set()
    assert Supervisor((), threading.RLock(), lambda i: lambda r: None).ready.is_set()


def test_flagsets_are_the_documents_served_in_precedence_order() -> None:
    late = ManualProvider(name="late")
    flags = Flags(DictProvider({"a": True}, name="first"), late, DictProvider({"b": 1}, name="last"))
    try:
        assert [sorted(fs.flags) for fs in flags.flagsets()] == [["a"], ["b"]]  # "late" has not loaded
        late.publish({"c": "x"})
        assert [sorted(fs.flags) for fs in flags.flagsets()] == [["a"], ["c"], ["b"]]
    finally:
        flags.close()


def test_two_providers_with_one_name_get_distinct_status_keys() -> None:
    flags = Flags(DictProvider({"a": True}, name="x"), DictProvider({"b": True}, name="x"))
    try:
        assert list(flags.status()) == ["x", "x#2"]
    finally:
        flags.close()
