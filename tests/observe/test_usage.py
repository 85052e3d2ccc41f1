"""Usage counters: per (flag, variant, reason), coarse last-seen, export files, fork."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from flagkit import Flags, Hook
from flagkit._observe.usage import USAGE_FORMAT, UsageRecorder, merge_usage, read_usage
from flagkit.testing import override_flags
from tests.helpers.fork import ask_child
from tests.helpers.providers import ManualProvider
from tests.helpers.saves import wait_until

DOC = {
    "features": {
        "beta": {"rules": [{"name": "us", "when": {"country": "US"}, "serve": "on"}]},
        "cfg": {"variants": {"v1": {"limits": [1, 2]}}, "default": "v1"},
        "gated": {"requires": ["beta"], "rules": [{"serve": "on"}]},
        "unused": True,
    }
}


@pytest.fixture(autouse=True)
def _close_clients() -> Any:
    """Close the clients a test left open: their usage threads would outlive it (and trip
    tests/providers' no_thread_leaks check when run after this file)."""
    from flagkit._client.flags import _LIVE_CLIENTS

    before = set(_LIVE_CLIENTS)
    yield
    for client in set(_LIVE_CLIENTS) - before:
        client.close()


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def counted(doc: dict[str, Any] = DOC) -> tuple[Flags, Clock]:
    flags = Flags.from_dict(doc)
    clock = Clock()
    flags.enable_usage(clock=clock, interval=3600)
    return flags, clock


def test_usage_is_off_until_enabled() -> None:
    flags = Flags.from_dict(DOC)
    assert flags.usage() is None
    assert flags.stats()["usage"] == {"enabled": False}
    with pytest.raises(RuntimeError, match="not enabled"):
        flags.export_usage("nowhere.json")
    assert Flags.from_dict(DOC, usage=True).stats()["usage"] == {"enabled": True}


def test_counts_per_flag_variant_and_reason() -> None:
    flags, _ = counted()
    for country in ("US", "US", "DE"):
        flags.is_enabled("beta", {"country": country})
    flags.get_value("cfg", {})["limits"].append(3)  # a fresh copy: counted by name
    flags.get_value("cfg", {})
    usage = flags.usage()
    assert usage is not None
    assert usage["format"] == USAGE_FORMAT
    assert usage["flags"]["beta"] == {
        "evaluations": 3,
        "last_seen": 1_000.0,
        "variants": {"on": {"TARGETING_MATCH": 2}, "off": {"DEFAULT": 1}},
    }
    assert usage["flags"]["cfg"]["variants"] == {"v1": {"STATIC": 2}}
    assert usage["flags"]["unused"] == {"evaluations": 0, "last_seen": None, "variants": {}}
    json.dumps(usage, allow_nan=False)


def test_unknown_flags_are_not_counted_and_failed_evaluations_count_as_errors() -> None:
    flags, _ = counted()
    flags.is_enabled("nope")
    flags.is_enabled("beta", 42)  # type: ignore[arg-type]  # misuse: not a mapping
    flags.evaluate("beta", 0, 42)  # type: ignore[arg-type]
    usage = flags.usage()
    assert usage is not None
    assert "nope" not in usage["flags"]
    # Still evaluated by the code (so not stale), and what the caller got: its default.
    assert usage["flags"]["beta"]["variants"] == {"": {"ERROR": 2}}


@pytest.mark.parametrize("hooked", [False, True], ids=["plain", "with a hook"])
def test_a_type_mismatch_counts_as_an_error_not_as_the_variant(hooked: bool) -> None:
    flags, _ = counted()
    if hooked:
        flags.add_hook(Hook())  # the other evaluation path
    # "beta" serves "off" (the boolean False) here; to a string default the caller gets its
    # own default, reason ERROR: usage counts that, not the variant.
    assert flags.get_value("beta", "str", {"country": "DE"}) == "str"
    assert flags.evaluate("beta", "str", {"country": "DE"}).value == "str"
    assert flags.is_enabled("cfg") is False  # is_enabled on a dict flag: a mismatch too
    assert flags.variant("beta", {"country": "DE"}) == "off"  # variant() cannot mismatch
    assert flags.get_value("beta", 1.5) == 1.5
    assert flags.get_value("beta", None) is False  # None accepts any type
    usage = flags.usage()
    assert usage is not None
    assert usage["flags"]["beta"]["variants"] == {"": {"ERROR": 3}, "off": {"DEFAULT": 2}}
    assert usage["flags"]["cfg"]["variants"] == {"": {"ERROR": 1}}


def test_code_default_is_counted_under_its_own_name() -> None:
    doc = {
        "features": {
            # a variant really named "None" must not be mixed up with "no variant"
            "f": {
                "variants": {"None": 1, "x": 2},
                "default": "code_default",
                "rules": [{"when": {"n": True}, "serve": "None"}],
            },
        }
    }
    flags, _ = counted(doc)
    assert flags.get_value("f", 7) == 7  # the caller's default
    assert flags.variant("f") is None
    assert flags.get_value("f", 7, {"n": True}) == 1
    flags.is_enabled("f")
    usage = flags.usage()
    assert usage is not None
    assert usage["flags"]["f"]["variants"] == {"code_default": {"DEFAULT": 3}, "None": {"TARGETING_MATCH": 1}}


def test_last_seen_moves_only_when_the_flag_is_evaluated() -> None:
    flags, clock = counted()
    flags.is_enabled("beta")
    assert flags.usage()["flags"]["beta"]["last_seen"] == 1_000.0  # type: ignore[index]
    clock.now = 5_000.0
    assert flags.usage()["flags"]["beta"]["last_seen"] == 1_000.0  # type: ignore[index]
    flags.is_enabled("beta")
    usage = flags.usage()
    assert usage is not None
    assert usage["flags"]["beta"]["last_seen"] == 5_000.0
    assert (usage["since"], usage["now"]) == (1_000.0, 5_000.0)


@pytest.mark.slow
def test_the_ticker_stamps_without_anyone_asking() -> None:
    recorder = UsageRecorder(interval=0.01)
    flags = Flags.from_dict(DOC)
    flags._usage = recorder  # a recorder with a short interval, installed like enable_usage does
    with flags._lock:
        flags._publish(flags._base)
    recorder.start()
    flags.is_enabled("beta")
    wait_until(lambda: recorder._last_seen.get("beta"))
    flags.close()
    assert recorder._worker is None
    assert not recorder.running


def test_prerequisites_and_overrides_count() -> None:
    flags, _ = counted()
    flags.is_enabled("gated", {"country": "US"})
    with override_flags(flags, unused=False):
        flags.is_enabled("unused")
    usage = flags.usage()
    assert usage is not None
    assert usage["flags"]["beta"]["variants"] == {"on": {"TARGETING_MATCH": 1}}
    assert usage["flags"]["unused"]["variants"] == {"off": {"OVERRIDE": 1}}


def test_counts_survive_reloads() -> None:
    provider = ManualProvider({"a": {"rules": [{"serve": "on"}]}})
    flags = Flags(provider, usage=True)
    flags.is_enabled("a")
    provider.publish({"a": {"rules": [{"serve": "off"}]}})
    flags.is_enabled("a")
    flags.is_enabled("a")
    provider.publish({"a": {"rules": [{"serve": "off"}]}, "b": True})
    flags.is_enabled("a")
    usage = flags.usage()
    assert usage is not None
    assert usage["flags"]["a"]["variants"] == {"on": {"TARGETING_MATCH": 1}, "off": {"TARGETING_MATCH": 3}}
    assert usage["flags"]["a"]["evaluations"] == 4
    assert not any(flags._usage._tallies.values())  # type: ignore[union-attr]  # folded by usage()


def test_export_is_atomic_json_and_never_double_counts(tmp_path: Path) -> None:
    path = tmp_path / "usage ü.json"
    flags, clock = counted()
    flags.is_enabled("beta")
    flags.export_usage(path)
    flags.export_usage(path)  # nothing new: the same counts
    data = read_usage(path)
    assert data["flags"]["beta"]["evaluations"] == 1
    clock.now = 2_000.0
    flags.is_enabled("beta")
    flags.export_usage(path)
    data = read_usage(path)
    assert data["flags"]["beta"] == {
        "evaluations": 2,
        "last_seen": 2_000.0,
        "variants": {"off": {"DEFAULT": 2}},
    }
    assert data["flags"]["unused"]["last_seen"] is None
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind

    # a restarted process: its own counts add up, the later last_seen wins
    again, clock2 = counted()
    clock2.now = 1_500.0
    again.is_enabled("beta")
    again.is_enabled("unused")
    again.export_usage(path)
    data = read_usage(path)
    assert data["flags"]["beta"]["evaluations"] == 3
    assert data["flags"]["beta"]["last_seen"] == 2_000.0
    assert data["flags"]["unused"]["last_seen"] == 1_500.0
    assert data["since"] == 1_000.0


def test_a_corrupt_usage_file_is_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "usage.json"
    path.write_text("{not json")
    flags, _ = counted()
    flags.is_enabled("beta")
    flags.export_usage(path)
    assert read_usage(path)["flags"]["beta"]["evaluations"] == 1
    assert "unreadable" in caplog.text


def test_read_usage_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"flags": {}}))
    with pytest.raises(ValueError, match="not a flagkit usage file"):
        read_usage(path)


def test_merge_ignores_malformed_entries() -> None:
    merged = merge_usage(
        [
            {"flags": {"a": {"last_seen": 5, "variants": {"on": {"STATIC": 2}}}}, "since": 1, "now": 5},
            {"flags": {"a": "junk", "b": {"variants": {"x": {"S": True, "T": 1}, "y": 3}}}},
        ]
    )
    assert merged["flags"] == {
        "a": {"evaluations": 2, "last_seen": 5, "variants": {"on": {"STATIC": 2}}},
        "b": {"evaluations": 1, "last_seen": None, "variants": {"x": {"T": 1}}},
    }


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_fork_child_counts_from_zero() -> None:
    flags = Flags.from_dict(DOC, usage=True)
    flags.is_enabled("beta")

    def child(send: Any) -> None:
        flags.is_enabled("unused")
        usage = flags.usage()
        assert usage is not None
        send({k: v["evaluations"] for k, v in usage["flags"].items()})

    message = ask_child(child)
    assert message == {"beta": 0, "cfg": 0, "gated": 0, "unused": 1}
    assert flags.usage()["flags"]["beta"]["evaluations"] == 1  # type: ignore[index]
    flags.close()


def test_counts_are_exact_while_threads_evaluate_and_the_ticker_folds() -> None:
    """The fast lane appends to per-flag tallies that the ticker folds (every 10 ms here)
    while four threads evaluate: no evaluation is lost or counted twice."""
    import threading

    flags = Flags.from_dict(DOC)
    flags.enable_usage(interval=0.01)
    assert flags.ready  # the first use starts the threads (the fast lane needs the usage thread)
    assert flags._snapshot.hooks is not None
    assert set(flags._snapshot.hooks.lanes) == set(DOC["features"])  # usage alone: the fast lane
    per_thread = 20_000

    def work(n: int) -> None:
        for i in range(per_thread):
            country = "US" if i % 4 == 0 else "DE"
            flags.is_enabled("beta", {"country": country})
            flags.variant("gated", {"country": country})
            flags.get_value("unused", False)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    usage = flags.usage()
    assert usage is not None
    beta = usage["flags"]["beta"]
    # "gated" evaluates "beta" as its prerequisite: counted too (through the table's wrapper)
    assert beta["evaluations"] == 2 * 4 * per_thread
    assert beta["variants"] == {
        "on": {"TARGETING_MATCH": 2 * 4 * per_thread // 4},
        "off": {"DEFAULT": 2 * 4 * per_thread * 3 // 4},
    }
    assert usage["flags"]["gated"]["evaluations"] == 4 * per_thread
    assert usage["flags"]["unused"]["variants"] == {"on": {"STATIC": 4 * per_thread}}
    flags.close()


def test_the_fast_lane_is_only_for_usage_alone() -> None:
    flags = Flags.from_dict(DOC, usage=True)
    assert flags.ready  # the first use starts the threads (the fast lane needs the usage thread)
    assert flags._snapshot.hooks is not None
    assert flags._snapshot.hooks.lanes  # usage alone

    class NoOp(Hook):
        pass

    hook = flags.add_hook(NoOp())
    assert flags._snapshot.hooks.lanes == {}  # hooks see every evaluation: the long way
    flags.is_enabled("beta", {"country": "US"})
    flags.remove_hook(hook)
    assert flags._snapshot.hooks.lanes
    flags.is_enabled("beta", {"country": "US"})
    flags.on_exposure(lambda exposure: None)
    tracked = Flags.from_dict(DOC, usage=True, track_all=True)
    tracked.on_exposure(lambda exposure: None)
    assert tracked._snapshot.hooks is not None
    assert tracked._snapshot.hooks.lanes == {}  # exposures: the long way
    usage = flags.usage()
    assert usage is not None
    assert usage["flags"]["beta"]["variants"] == {"on": {"TARGETING_MATCH": 2}}
    flags.close()
    assert flags._snapshot.hooks is not None
    assert flags._snapshot.hooks.lanes == {}  # no ticker folds tallies after close: the long way
    flags.is_enabled("beta", {"country": "US"})
    assert flags.usage()["flags"]["beta"]["evaluations"] == 3  # type: ignore[index]
    tracked.close()


@pytest.mark.parametrize("path", ["evaluate", "hook", "exposure"])
def test_counts_are_exact_across_reloads_while_a_scraper_reads(path: str) -> None:
    """Four threads evaluate on the long path (evaluate, a hook, exposures) while the flags
    are reloaded every few milliseconds and a scraper reads ``usage()`` in a loop: the
    counters were attached to the snapshot's resolvers, so evaluations still counting into a
    replaced one after its fold were lost (79,663-79,940 of 80,000)."""
    import sys
    import threading
    import time

    def doc(n: int) -> dict[str, Any]:
        return {
            "beta": {
                "rules": [
                    {"when": {"country": "US"}, "serve": "on"},
                    {"serve": {"on": n % 50, "off": 100 - n % 50}},
                ]
            }
        }

    provider = ManualProvider(doc(0))
    flags = Flags(provider, usage=True, track_all=path == "exposure")
    if path == "hook":
        flags.add_hook(Hook())
        flags.add_hook(type("Before", (Hook,), {"before": lambda self, hc: None})())
    if path == "exposure":
        flags.on_exposure(lambda exposure: None)
    per_thread, threads_n = 10_000, 4
    done = threading.Event()
    reloads = [0]

    def reload() -> None:
        while not done.is_set():
            reloads[0] += 1
            provider.publish(doc(reloads[0]))
            time.sleep(0.002)

    def scrape() -> None:
        while not done.is_set():
            flags.usage()

    def work(n: int) -> None:
        for i in range(per_thread):
            flags.evaluate("beta", False, {"country": "US" if i % 2 else "DE", "user_id": f"u{n}-{i % 300}"})

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        side = [threading.Thread(target=reload), threading.Thread(target=scrape)]
        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
        for thread in side + workers:
            thread.start()
        for thread in workers:
            thread.join(timeout=300)
        done.set()
        for thread in side:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in side + workers)
    finally:
        sys.setswitchinterval(interval)
    assert reloads[0] > 5
    usage = flags.usage()
    assert usage is not None
    assert usage["flags"]["beta"]["evaluations"] == threads_n * per_thread
    flags.close()


def test_a_client_dropped_without_close_leaves_no_usage_or_exposure_thread() -> None:
    import gc
    import threading

    before = set(threading.enumerate())
    flags = Flags.from_dict(DOC, usage=True)
    flags.on_exposure(lambda exposure: None)
    flags.is_enabled("beta", {"country": "US"})
    started = [
        t for t in set(threading.enumerate()) - before if t.name in ("flagkit-usage", "flagkit-exposures")
    ]
    assert sorted(t.name for t in started) == ["flagkit-exposures", "flagkit-usage"]
    del flags
    gc.collect()
    wait_until(lambda: not any(t.is_alive() for t in started), timeout=10)
