"""Helpers shared by several test modules."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing_tool(what: str, install: str) -> NoReturn:
    """Skip a test whose real server or browser is not installed on a developer's machine.

    Under CI (``CI`` set, as ``.ci/run`` is run) a missing tool is a failure, not a skip:
    ``.ci/run`` installs every one of them, so a skip there would hide a broken install step.
    """
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing under CI: .ci/run should have installed it ({install})")
    pytest.skip(f"{what} is not installed ({install}; .ci/run does this)")
