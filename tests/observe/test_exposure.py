"""Exposure events: tracked flags only, deduplication window, off-request delivery, bounded queue."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from flagkit import ErrorCode, Flags, Hook, Reason
from flagkit._observe.exposures import Exposure
from flagkit.testing import override_flags
from tests.helpers.fork import ask_child
from tests.helpers.saves import wait_until

DOC = {
    "features": {
        "exp": {"track": True, "rules": [{"serve": {"on": 50, "off": 50}}]},
        "by_account": {"track": True, "bucket_by": "account.id", "rules": [{"serve": "on"}]},
        "quiet": {"rules": [{"serve": "on"}]},
        "static": True,
        "gated": {"requires": ["exp"], "rules": [{"serve": "on"}]},
    }
}


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def collect(flags: Flags, **options: Any) -> list[Exposure]:
    got: list[Exposure] = []
    flags.on_exposure(got.append, **options)
    return got


def test_only_tracked_flags_report_exposures() -> None:
    with Flags.from_dict(DOC) as flags:
        clock = Clock()
        got = collect(flags, clock=clock)
        served = flags.variant("exp", {"user_id": "u1"})
        flags.is_enabled("quiet", {"user_id": "u1"})
        flags.is_enabled("static", {"user_id": "u1"})
        assert flags.flush_exposures()
        assert [e.as_dict() for e in got] == [
            {
                "key": "exp",
                "variant": served,
                "value": served == "on",
                "reason": "SPLIT",
                "targeting_key": "u1",
                "timestamp": 1_000.0,
            }
        ]
        assert got[0].reason is Reason.SPLIT


def test_track_all_reports_every_flag() -> None:
    with Flags.from_dict(DOC, track_all=True) as flags:
        got = collect(flags)
        for key in ("quiet", "static"):
            flags.is_enabled(key, {"targeting_key": "t1"})
        assert flags.flush_exposures()
        assert [(e.key, e.targeting_key) for e in got] == [("quiet", "t1"), ("static", "t1")]


def test_targeting_key_is_the_bucketing_attribute() -> None:
    with Flags.from_dict(DOC) as flags:
        got = collect(flags)
        flags.is_enabled("by_account", {"user_id": "u1", "account": {"id": 7}})
        flags.is_enabled("exp", {"targeting_key": "t9", "user_id": "u1"})
        flags.is_enabled("exp", {})  # anonymous
        assert flags.flush_exposures()
        assert [(e.key, e.targeting_key) for e in got] == [("by_account", 7), ("exp", "t9"), ("exp", None)]


def test_repeats_are_deduplicated_per_flag_variant_and_user() -> None:
    with Flags.from_dict(DOC) as flags:
        got = collect(flags)
        for _ in range(5):
            for user in ("a", "b", "c"):
                flags.is_enabled("exp", {"user_id": user})
        with override_flags(flags, exp=True):  # another variant for the same users: new exposures
            for user in ("a", "b", "c"):
                flags.is_enabled("exp", {"user_id": user})
        assert flags.flush_exposures()
        first = [(e.targeting_key, e.variant) for e in got[:3]]
        assert [u for u, _ in first] == ["a", "b", "c"]
        later = [(e.targeting_key, e.variant, e.reason) for e in got[3:]]
        assert later == [(u, "on", Reason.OVERRIDE) for u, v in first if v != "on"]
        stats = flags.stats()["exposures"]
        assert stats["delivered"] == len(got)
        assert stats["deduplicated"] == 18 - len(got)


def test_the_window_is_a_bounded_lru() -> None:
    with Flags.from_dict(DOC) as flags:
        got = collect(flags, window=2)
        for user in ("a", "b", "a", "c", "a", "b"):  # c evicts b (a was used more recently)
            flags.is_enabled("by_account", {"account": {"id": user}})
        assert flags.flush_exposures()
        assert [e.targeting_key for e in got] == ["a", "b", "c", "b"]
        assert flags.stats()["exposures"]["window"] == 2


def test_ttl_reports_a_user_again_after_it_expires() -> None:
    clock = Clock()
    with Flags.from_dict(DOC) as flags:
        got = collect(flags, ttl=60.0, clock=clock)
        flags.is_enabled("by_account", {"account": {"id": 1}})
        clock.now += 59
        flags.is_enabled("by_account", {"account": {"id": 1}})
        clock.now += 2
        flags.is_enabled("by_account", {"account": {"id": 1}})
        assert flags.flush_exposures()
        assert [e.timestamp for e in got] == [1_000.0, 1_061.0]


def test_delivery_is_off_the_request_path_and_a_full_queue_drops() -> None:
    started, release = threading.Event(), threading.Event()
    threads: list[str] = []

    def slow(exposure: Exposure) -> None:
        threads.append(threading.current_thread().name)
        started.set()
        release.wait(30)

    with Flags.from_dict(DOC) as flags:
        flags.on_exposure(slow, queue_size=2)
        flags.is_enabled("by_account", {"account": {"id": 0}})
        assert started.wait(10)  # the callback now blocks the delivery thread
        for i in range(1, 6):  # evaluation never waits: 2 are queued, 3 dropped
            flags.is_enabled("by_account", {"account": {"id": i}})
        stats = flags.stats()["exposures"]
        assert (stats["pending"], stats["dropped"]) == (2, 3)
        release.set()
        assert flags.flush_exposures(10)
        assert flags.stats()["exposures"]["delivered"] == 3
        assert set(threads) == {"flagkit-exposures"}


def test_an_exposure_dropped_on_a_full_queue_is_reported_by_the_next_evaluation() -> None:
    started, release = threading.Event(), threading.Event()
    got: list[Any] = []

    def slow(exposure: Exposure) -> None:
        started.set()
        release.wait(30)
        got.append(exposure.targeting_key)

    with Flags.from_dict(DOC) as flags:
        flags.on_exposure(slow, queue_size=1)
        flags.is_enabled("by_account", {"account": {"id": 0}})
        assert started.wait(10)  # the delivery thread is blocked: 1 more fits, the rest drop
        for i in range(1, 10):
            flags.is_enabled("by_account", {"account": {"id": i}})
        assert flags.stats()["exposures"]["dropped"] == 8
        release.set()
        assert flags.flush_exposures(10)
        assert got == [0, 1]
        for i in range(10):  # the dropped users were not remembered: now they are reported
            flags.is_enabled("by_account", {"account": {"id": i}})
            assert flags.flush_exposures(10)  # one at a time: a queue of 1 has room for each
        assert sorted(got) == list(range(10))
        stats = flags.stats()["exposures"]
        assert (stats["delivered"], stats["deduplicated"], stats["dropped"]) == (10, 2, 8)


def test_close_delivers_what_is_queued_and_later_exposures_are_dropped() -> None:
    release = threading.Event()
    got: list[Any] = []

    def gated(exposure: Exposure) -> None:
        release.wait(30)
        got.append(exposure.targeting_key)

    flags = Flags.from_dict(DOC)
    flags.on_exposure(gated)
    for i in range(3):
        flags.is_enabled("by_account", {"account": {"id": i}})
    threading.Timer(0.05, release.set).start()
    flags.close()
    assert got == [0, 1, 2]
    flags.is_enabled("by_account", {"account": {"id": 99}})
    assert got == [0, 1, 2]
    assert not [t for t in threading.enumerate() if t.name == "flagkit-exposures"]


def test_a_failing_callback_is_logged_once_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    def broken(exposure: Exposure) -> None:
        raise RuntimeError("boom")

    with Flags.from_dict(DOC) as flags:
        got = collect(flags)
        flags.on_exposure(broken)
        with caplog.at_level(logging.ERROR, logger="flagkit"):
            for i in range(3):
                flags.is_enabled("by_account", {"account": {"id": f"secret-{i}"}})
            assert flags.flush_exposures()
        assert len(got) == 3  # the other callback still got everything
        assert flags.stats()["exposures"]["callback_errors"] == 3
        assert len([r for r in caplog.records if "exposure callback" in r.getMessage()]) == 1
        assert "secret-" not in caplog.text


def test_prerequisite_evaluations_of_a_tracked_flag_are_exposures() -> None:
    with Flags.from_dict(DOC) as flags:
        got = collect(flags)
        flags.is_enabled("gated", {"user_id": "u1"})
        assert flags.flush_exposures()
        assert [(e.key, e.targeting_key) for e in got] == [("exp", "u1")]


@pytest.mark.parametrize("hooked", [False, True], ids=["plain", "with a hook"])
def test_a_failed_evaluation_is_no_exposure(hooked: bool) -> None:
    exp = {"track": True, "rules": [{"when": {"beta": True}, "serve": "on"}, {"serve": "off"}]}
    doc = {"features": {"exp": exp, "name": {"track": True, "variants": {"a": "A"}, "default": "a"}}}
    with Flags.from_dict(doc) as flags:
        if hooked:
            flags.add_hook(Hook())
        got = collect(flags)
        user = {"user_id": "u1"}
        # The caller gets its own default (reason ERROR): nothing was served to it.
        assert flags.get_value("exp", "str", user) == "str"
        assert flags.evaluate("exp", 0, user).error_code is ErrorCode.TYPE_MISMATCH
        assert flags.is_enabled("name", user) is False  # a string flag: a mismatch for is_enabled
        assert flags.get_value("exp", True, 42) is True  # type: ignore[arg-type]  # not a mapping
        assert flags.flush_exposures()
        assert got == []
        # What the caller does get is an exposure: the value, or an int for a float default.
        assert flags.get_value("exp", True, user) is False
        assert flags.variant("name", user) == "a"
        assert flags.variant("name", 42) == "a"  # type: ignore[arg-type]  # served: never read
        assert flags.flush_exposures()
        assert [(e.key, e.variant, e.value, e.targeting_key) for e in got] == [
            ("exp", "off", False, "u1"),
            ("name", "a", "A", "u1"),
            ("name", "a", "A", None),  # no targeting key in a context that is not a mapping
        ]
        assert flags.stats()["exposures"]["deduplicated"] == 0


def test_code_default_is_an_exposure_without_a_variant() -> None:
    doc = {"features": {"f": {"track": True, "variants": {"x": 1}, "default": "code_default"}}}
    with Flags.from_dict(doc) as flags:
        got = collect(flags)
        assert flags.get_value("f", 7, {"user_id": "u1"}) == 7
        assert flags.flush_exposures()
        assert [(e.variant, e.value, e.reason) for e in got] == [(None, None, Reason.DEFAULT)]


def test_unhashable_targeting_keys_are_reported_by_their_repr() -> None:
    with Flags.from_dict({"f": {"track": True, "bucket_by": "who", "rules": [{"serve": "on"}]}}) as flags:
        got = collect(flags)
        for _ in range(2):
            flags.is_enabled("f", {"who": ["a", 1]})
        assert flags.flush_exposures()
        assert [e.targeting_key for e in got] == ["['a', 1]"]


@pytest.mark.slow
def test_exposures_are_flushed_at_process_exit(tmp_path: Path) -> None:
    out = tmp_path / "exposures é.txt"
    script = textwrap.dedent(
        f"""
        import time, flagkit
        flags = flagkit.Flags.from_dict({{"exp": {{"track": True, "rules": [{{"serve": "on"}}]}}}})
        def slow(exposure):
            time.sleep(0.05)
            with open({str(out)!r}, "a", encoding="utf-8") as fh:
                fh.write(exposure.targeting_key + "\\n")
        flags.on_exposure(slow)
        for i in range(5):
            flags.is_enabled("exp", {{"user_id": f"u{{i}}"}})
        # no close(): the atexit handler delivers the queue
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert out.read_text(encoding="utf-8").split() == [f"u{i}" for i in range(5)]


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_fork_child_delivers_its_own_exposures() -> None:
    with Flags.from_dict(DOC) as flags:
        got = collect(flags)
        flags.is_enabled("by_account", {"account": {"id": "parent"}})
        assert flags.flush_exposures()

        def child(send: Any) -> None:
            flags.is_enabled("by_account", {"account": {"id": "child"}})
            flags.is_enabled("by_account", {"account": {"id": "parent"}})  # deduplicated: inherited window
            assert flags.flush_exposures(10)
            send({"got": [e.targeting_key for e in got]})

        message = ask_child(child)
        assert message == {"got": ["parent", "child"]}
        wait_until(lambda: flags.stats()["exposures"]["pending"] == 0)
        assert [e.targeting_key for e in got] == ["parent"]


def test_concurrent_first_evaluations_report_each_user_exactly_once() -> None:
    # The "already seen" test and the insert were two unlocked steps: threads evaluating the
    # same new users at once each queued the exposure (11-18 duplicates in 12,000 users).
    users = [f"u{i}" for i in range(12_000)]
    threads_n = 8
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _round in range(4):  # the window is narrow: several rounds make a miss unlikely
            with Flags.from_dict({"exp": {"track": True, "rules": [{"serve": "on"}]}}) as flags:
                got = collect(flags, window=100_000, queue_size=100_000)
                start = threading.Barrier(threads_n)

                def work(flags: Flags = flags, start: threading.Barrier = start) -> None:
                    start.wait(timeout=30)
                    for user in users:
                        flags.is_enabled("exp", {"user_id": user})

                workers = [threading.Thread(target=work) for _ in range(threads_n)]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join(timeout=120)
                assert not any(worker.is_alive() for worker in workers)
                assert flags.flush_exposures(timeout=60)
                stats = flags.stats()["exposures"]
            assert len(got) == len(users), f"{len(got) - len(users)} duplicate exposures"
            assert sorted(e.targeting_key for e in got) == sorted(users)
            assert stats["delivered"] + stats["deduplicated"] == threads_n * len(users)
    finally:
        sys.setswitchinterval(interval)


@pytest.mark.slow
def test_exposures_lost_at_exit_are_bounded_logged_and_counted(tmp_path: Path) -> None:
    # The exit hook gave up after ~2 s and lost what was still queued, silently.
    out = tmp_path / "stats.json"
    script = textwrap.dedent(
        f"""
        import atexit, json, logging, time
        logging.basicConfig(level=logging.WARNING)
        flags = None
        def report():  # registered before flagkit's hook, so it runs after it
            with open({str(out)!r}, "w", encoding="utf-8") as fh:
                json.dump(flags.stats()["exposures"], fh)
        atexit.register(report)
        import flagkit
        flags = flagkit.Flags.from_dict({{"exp": {{"track": True, "rules": [{{"serve": "on"}}]}}}})
        flags.on_exposure(lambda exposure: time.sleep(0.01))
        for i in range(1500):
            flags.is_enabled("exp", {{"user_id": f"secret-user-{{i}}"}})
        started = time.monotonic()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    stats = json.loads(out.read_text(encoding="utf-8"))
    assert stats["lost_at_exit"] > 0
    assert stats["delivered"] + stats["lost_at_exit"] == 1500
    warnings = [line for line in done.stderr.splitlines() if "not delivered at exit" in line]
    assert len(warnings) == 1
    assert f"{stats['lost_at_exit']} exposures" in warnings[0]
    assert "secret-user" not in done.stderr


def test_an_exposures_value_is_not_the_callers_object() -> None:
    # The exposure held the very object the caller got: a caller changing its value changed
    # what the callbacks (and every later callback) saw.
    doc = {"cfg": {"track": True, "variants": {"a": {"limit": 1}}, "default": "a"}}
    with Flags.from_dict(doc) as flags:
        gate = threading.Event()
        got: list[Exposure] = []
        flags.on_exposure(lambda exposure: (gate.wait(30), got.append(exposure)))
        value = flags.get_value("cfg", None, {"user_id": "u1"})
        value["limit"] = 999  # the caller's own copy
        gate.set()
        assert flags.flush_exposures()
        assert got[0].value == {"limit": 1}
        as_dict = got[0].as_dict()
        as_dict["value"]["limit"] = 5
        assert got[0].value == {"limit": 1}


def test_each_exposure_callback_gets_its_own_object_value() -> None:
    # issue 17: every callback was handed the same Exposure, so one callback changing an
    # object value (say, a sink adding its own fields) changed what the next one received.
    seen: list[Any] = []

    def annotating_sink(exposure: Any) -> None:
        exposure.value["sink"] = "first"
        exposure.value["limits"].append(99)

    with Flags.from_dict(
        {"features": {"cfg": {"variants": {"a": {"limits": [1]}}, "default": "a", "track": True}}}
    ) as flags:
        flags.on_exposure(annotating_sink)
        flags.on_exposure(lambda exposure: seen.append(exposure.value))
        for user in ("u1", "u2"):
            assert flags.get_value("cfg", {}, {"user_id": user}) == {"limits": [1]}
        assert flags.flush_exposures()
    assert seen == [{"limits": [1]}, {"limits": [1]}]
    assert flags.stats()["exposures"]["callback_errors"] == 0


def test_close_under_load_stops_taking_exposures_then_delivers_the_rest() -> None:
    # issue 17: close() flushed while still accepting new exposures, so under load it waited
    # its whole timeout, returned with the queue full and the thread still calling the
    # callback afterwards (into a sink the application was tearing down).
    import sys

    got: list[Any] = []
    stop = threading.Event()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        flags = Flags.from_dict({"features": {"x": {"rules": [{"serve": "on"}], "track": True}}})

        def slow_sink(exposure: Any) -> None:
            got.append(exposure)
            stop.wait(0.001)

        flags.on_exposure(slow_sink, queue_size=50)

        def evaluate(i: int) -> None:
            n = 0
            while not stop.is_set():
                flags.is_enabled("x", {"user_id": f"{i}-{n}"})
                n += 1

        workers = [threading.Thread(target=evaluate, args=(i,)) for i in range(4)]
        for worker in workers:
            worker.start()
        while len(got) < 20:  # the queue is busy
            stop.wait(0.001)
        flags.close()
        delivered_at_close = len(got)
        stats = flags.stats()["exposures"]
        alive = [t for t in threading.enumerate() if t.name == "flagkit-exposures" and t.is_alive()]
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    finally:
        sys.setswitchinterval(interval)
    assert alive == []
    assert stats["pending"] == 0
    assert stats["delivered"] == delivered_at_close
    assert len(got) == delivered_at_close  # nothing delivered after close() returned
