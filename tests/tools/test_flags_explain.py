"""``Flags.explain``: the trace of an evaluation on a live client agrees with what it serves."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from flagkit import DictProvider, ErrorCode, FileProvider, Flags, FlagSet, Guard, Reason
from flagkit._tools.render import render_explanation
from flagkit.testing import override_flags
from tests.tools.test_explain import contexts


def same_answer(flags: Flags, key: str, ctx: dict[str, Any]) -> None:
    real = flags.evaluate(key, None, ctx)
    trace = flags.explain(key, ctx)
    assert trace.consistent, (key, ctx)
    assert (trace.value, trace.variant, trace.reason, trace.rule) == (
        real.value,
        real.variant,
        real.reason,
        real.rule,
    ), (key, ctx)


def test_agrees_with_evaluate_on_every_example_flag(example_file: Path) -> None:
    with Flags.from_file(example_file, watch=False) as flags:
        keys = flags.keys()  # a list (Flags is no mapping)
        for key in keys:
            for ctx in contexts()[:60]:
                same_answer(flags, key, ctx)


def test_the_ambient_context_is_merged_as_evaluate_merges_it(example_file: Path) -> None:
    with Flags.from_file(example_file, watch=False) as flags:
        keys = flags.keys()
        with flags.context(plan="pro", country="US", premium=True):
            for key in keys:
                for ctx in ({"user_id": "u-1"}, {"user_id": "u-2", "country": "DE"}, {}):
                    same_answer(flags, key, ctx)
            assert flags.explain("new_search", {"user_id": "u-1"}).rule == "premium US"
        assert flags.explain("new_search", {"user_id": "u-1"}).rule != "premium US"


def test_each_flag_is_traced_with_its_own_documents_segments() -> None:
    # The first provider wins `gate`, and its segment `staff` is not the second document's
    # `staff`: the trace of `feature`'s prerequisite must read the first document.
    first = {
        "segments": {"staff": {"email": {"ends_with": "@a.example"}}},
        "features": {"gate": {"rules": [{"when": {"segment": "staff"}, "serve": "on"}]}},
    }
    second = {
        "segments": {"staff": {"country": "XX"}},
        "features": {
            "gate": False,
            "feature": {"requires": ["gate"], "rules": [{"when": {"segment": "staff"}, "serve": "on"}]},
        },
    }
    with Flags(DictProvider(first), DictProvider(second)) as flags:
        for ctx in ({"email": "x@a.example", "country": "XX"}, {"email": "x@a.example"}, {"country": "XX"}):
            same_answer(flags, "feature", ctx)
            same_answer(flags, "gate", ctx)
        trace = flags.explain("feature", {"email": "x@a.example", "country": "XX"})
        assert trace.reason is Reason.TARGETING_MATCH
        (prerequisite,) = trace.prerequisites
        assert prerequisite.ok
        assert prerequisite.explanation is not None
        assert prerequisite.explanation.rules[0].condition is not None
        assert prerequisite.explanation.rules[0].condition.children[0].attribute == "email"


def test_overrides_and_tripped_guards_are_what_it_explains() -> None:
    with Flags.from_dict({"features": {"new_path": {"rules": [{"serve": "on"}]}}}) as flags:
        with override_flags(flags, {"new_path": False}):
            trace = flags.explain("new_path")
            assert (trace.kind, trace.value, trace.reason, trace.consistent) == (
                "override",
                False,
                Reason.OVERRIDE,
                True,
            )
            assert "overridden by a test" in render_explanation(trace)[0]
        guard = Guard(min_calls=1, max_failure_rate=1)
        with flags.guarded("new_path", guard=guard) as block:
            if block.enabled:
                raise RuntimeError("the new path fails")
        assert guard.tripped
        trace = flags.explain("new_path")
        assert (trace.kind, trace.value, trace.reason, trace.consistent) == (
            "guard",
            False,
            Reason.GUARD_TRIPPED,
            True,
        )
        assert flags.evaluate("new_path", True).value is False


def test_it_never_raises() -> None:
    with Flags.from_dict({"features": {"f": {"rules": [{"when": {"plan": "pro"}, "serve": "on"}]}}}) as flags:
        missing = flags.explain("nope")
        assert (missing.kind, missing.reason, missing.error_code) == (
            "error",
            Reason.ERROR,
            ErrorCode.FLAG_NOT_FOUND,
        )
        assert missing.as_dict()["error_code"] == "FLAG_NOT_FOUND"
        bad = flags.explain("f", ["not", "a", "mapping"])  # type: ignore[arg-type]
        real = flags.evaluate("f", False, ["not", "a", "mapping"])  # type: ignore[arg-type]
        assert (bad.kind, bad.reason, bad.error_code) == ("error", Reason.ERROR, real.error_code)
        assert "not" not in (bad.error_message or "").replace("not a mapping", "")
        with override_flags(flags, {"f": True}):
            pass
    strict = Flags.from_dict({"features": {}}, strict=True)
    with strict:
        assert strict.explain("nope").error_code is ErrorCode.FLAG_NOT_FOUND


def test_it_runs_no_hooks_and_counts_no_usage(example_file: Path) -> None:
    with Flags.from_file(example_file, watch=False, usage=True, track_all=True) as flags:
        exposures: list[Any] = []
        flags.on_exposure(exposures.append)
        keys = flags.keys()
        for key in keys:
            flags.explain(key, {"user_id": "u-1"})
        usage = flags.usage()
        assert usage is not None
        assert all(counts["evaluations"] == 0 for counts in usage["flags"].values())
        assert flags.flush_exposures()
        assert exposures == []


@pytest.mark.slow  # a real file watcher
def test_a_pinned_snapshot_reloaded_away_is_answered_untraced(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    document = (
        "segments: {{staff: {{plan: {plan}}}}}\n"
        "features:\n  f: {{rules: [{{when: {{segment: staff}}, serve: on}}]}}\n"
    )
    path.write_text(document.format(plan="pro"))
    changed = threading.Event()
    with Flags(FileProvider(path, watch=True)) as flags:
        assert flags.wait_ready(30)
        flags.on_change(lambda keys: changed.set())
        with flags.snapshot():
            path.write_text(document.format(plan="free"))
            assert changed.wait(60), "the watcher did not report the change"
            trace = flags.explain("f", {"plan": "pro"})  # the pinned version: pro is staff
            assert (trace.kind, trace.value, trace.reason) == ("untraced", True, Reason.TARGETING_MATCH)
            assert trace.consistent
        assert flags.explain("f", {"plan": "pro"}).value is False
        assert flags.explain("f", {"plan": "free"}).kind == "rules"


def test_a_flagset_without_a_client_is_explained_the_same_way(example_file: Path) -> None:
    from flagkit._tools.explain import explain_in

    flagset = FlagSet.from_file(example_file)
    with Flags.from_file(example_file, watch=False) as flags:
        for key in flagset.flags:
            live, alone = flags.explain(key, {"user_id": "u-3"}), explain_in(flagset, key, {"user_id": "u-3"})
            if key != "holiday_banner":  # its trace shows the clock
                assert live == alone
            assert (live.value, live.reason, [r.status for r in live.rules]) == (
                alone.value,
                alone.reason,
                [r.status for r in alone.rules],
            )
