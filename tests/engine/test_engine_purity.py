"""The engine is pure: it reads no clock, starts no thread, logs nothing and does no I/O
except through what it is given (the document's clock reaches `now` conditions and ramps)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import flagkit
from flagkit import FlagSet, Reason

ENGINE = Path(flagkit.__file__).parent / "_engine"
# (socket is allowed: the CIDR operator parses addresses with socket.inet_pton, no I/O)
IMPURE_MODULES = {"time", "logging", "threading", "os", "io", "subprocess", "random", "pathlib", "asyncio"}
IMPURE_CALLS = {"open", "print", "input"}


def _engine_modules() -> list[Path]:
    return sorted(ENGINE.rglob("*.py"))


@pytest.mark.parametrize("path", _engine_modules(), ids=lambda p: str(p.relative_to(ENGINE)))
def test_engine_module_imports_no_clock_io_threads_or_logging(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in IMPURE_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            if node.module.split(".")[0] in IMPURE_MODULES:
                found.append(node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in IMPURE_CALLS:
            found.append(f"{node.func.id}()")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in {"now", "utcnow", "today"}
            and isinstance(node.value, ast.Attribute | ast.Name)
        ):
            found.append(f"….{node.attr}")
    assert found == [], f"{path.name} reaches outside the engine: {found}"


DOC = """
features:
  launched: {rules: [{when: {now: {at_or_after: "2030-01-01T00:00:00Z"}}, serve: "on"}]}
  trial:
    rules: [{when: {trial_ends_at: {after: now}}, serve: "on"}]
"""
BEFORE_2030 = 1_800_000_000.0  # 2027-01-15
AFTER_2030 = 1_900_000_000.0  # 2030-03-17


@pytest.mark.parametrize(("at", "launched"), [(BEFORE_2030, False), (AFTER_2030, True)])
def test_now_conditions_read_the_clock_the_flag_set_is_built_with(at: float, launched: bool) -> None:
    flags = FlagSet.from_bytes(DOC.encode(), source="flags.yaml", clock=lambda: at).flags
    assert flags["launched"].resolve({}, flags)[0] is launched
    trial_ends = "2029-06-01T00:00:00Z"
    resolution = flags["trial"].resolve({"trial_ends_at": trial_ends}, flags)
    assert (resolution[0], resolution[2]) == (
        (False, Reason.DEFAULT) if launched else (True, Reason.TARGETING_MATCH)
    )


def test_the_default_clock_is_flagset_now_looked_up_at_compile_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flagkit.flagset, "now", lambda: AFTER_2030)
    flags = FlagSet.from_bytes(DOC.encode(), source="flags.yaml").flags
    assert flags["launched"].resolve({}, flags)[0] is True
