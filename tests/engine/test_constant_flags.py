"""`CompiledFlag.constant`: the resolution a flag serves whatever the context, recognised at
compile time so the client can serve it without merging contexts or calling the resolver."""

from __future__ import annotations

from typing import Any

import pytest

from flagkit import FlagSet, Reason
from flagkit._engine.compiler import compile_static, constant_flag
from flagkit.evaluation import CODE_DEFAULT

CONTEXTS: list[dict[str, Any]] = [{}, {"user_id": "u1", "country": "US"}, {"user_id": "u2", "plan": "pro"}]

CONSTANT = """
features:
  static_on: true
  static_number: 3
  no_rules: {default: "on"}
  killed:
    enabled: false
    rules: [{when: {country: US}, serve: "on"}]
  killed_to_caller:
    enabled: false
    off_variant: code_default
  catch_all_first:
    variants: {a: 1, b: 2}
    default: a
    rules: [{serve: b}, {when: {country: US}, serve: a}]
"""

VARYING = """
features:
  targeted: {rules: [{when: {country: US}, serve: "on"}]}
  split: {rules: [{serve: {"on": 50, "off": 50}}]}
  ramp:
    rules:
      - serve: {"on": 10, "off": 90}
        ramp: {start: "2026-01-01T00:00:00Z", steps: [20, 100], interval: 1h}
  parent: true
  child: {default: "on", requires: [parent]}
  object_variants:
    variants: {a: {x: 1}, b: {x: 2}}
    default: a
"""


def test_constant_flags_expose_the_resolution_every_context_gets() -> None:
    flags = FlagSet.from_bytes(CONSTANT.encode(), source="flags.yaml").flags
    for key, flag in flags.items():
        constant = flag.constant
        assert constant is not None, key
        for ctx in CONTEXTS:
            assert flag.resolve(ctx, {}) is constant, (key, ctx)
    assert flags["static_on"].constant == (True, "on", Reason.STATIC, None)
    assert flags["static_number"].constant == (3, "3", Reason.STATIC, None)
    assert flags["no_rules"].constant == (True, "on", Reason.STATIC, None)
    assert flags["killed"].constant == (False, "off", Reason.DISABLED, None)
    assert flags["killed_to_caller"].constant == (CODE_DEFAULT, None, Reason.DISABLED, None)
    assert flags["catch_all_first"].constant == (2, "b", Reason.TARGETING_MATCH, "rules[0]")


@pytest.mark.parametrize("key", ["targeted", "split", "ramp", "child", "object_variants"])
def test_flags_that_depend_on_context_clock_prerequisites_or_serve_copies_are_not_constant(
    key: str,
) -> None:
    flags = FlagSet.from_bytes(VARYING.encode(), source="flags.yaml").flags
    assert flags[key].constant is None


def test_overrides_and_static_values_built_in_code_are_constant() -> None:
    flag = constant_flag("f", "blue", "blue", {"blue": "blue"}, Reason.OVERRIDE, source="override")
    assert flag.constant == ("blue", "blue", Reason.OVERRIDE, None)
    assert compile_static("g", False).constant == (False, "off", Reason.STATIC, None)
    assert compile_static("h", [1]).constant is None  # each evaluation gets its own list
