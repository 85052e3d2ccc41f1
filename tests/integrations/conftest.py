"""Shared by the framework tests: one flag file, users inside/outside its rollout, file edits."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flagkit import Flags

ROLLOUT_YAML = """\
features:
  new_checkout:
    rules:
      - name: staff
        when: {plan: staff}
        serve: on
      - name: half of the users
        serve: {on: 50, off: 50}
  button_color:
    variants: {blue: "#00f", green: "#0f0"}
    default: blue
    rules:
      - when: {plan: pro}
        serve: green
"""

ALL_ON_YAML = """\
features:
  new_checkout: true
  button_color:
    variants: {blue: "#00f", green: "#0f0"}
    default: green
"""


def write_flags(path: Path, text: str) -> None:
    """Replace the flag file the way editors and deploy tools do: write a temp file, rename it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _rollout_user_ids() -> tuple[int, int]:
    """An integer user id inside the 50 % rollout and one outside (same hashing as the app)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "features.yaml"
        write_flags(path, ROLLOUT_YAML)
        with Flags.from_file(path, watch=False) as flags:
            inside = next(i for i in range(1, 500) if flags.is_enabled("new_checkout", {"user_id": str(i)}))
            outside = next(
                i for i in range(1, 500) if not flags.is_enabled("new_checkout", {"user_id": str(i)})
            )
    return inside, outside


INSIDE_USER, OUTSIDE_USER = _rollout_user_ids()


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll ``predicate`` until it is true (returns True) or ``timeout`` seconds pass (False).

    The deadline is generous on purpose: a loaded machine delays a file event by seconds, and a
    passing test returns as soon as the condition holds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    """A fresh copy of the rollout flag file."""
    path = tmp_path / "features.yaml"
    write_flags(path, ROLLOUT_YAML)
    return path


CLIENT_FLAGS_YAML = """\
features:
  banner:
    client: true
    variants: {plain: "hello", tricky: "</script><script>alert('x')</script> & \\u2028"}
    default: plain
    rules:
      - when: {plan: pro}
        serve: tricky
  new_ui:
    client: true
    rules:
      - when: {plan: pro}
        serve: on
  backend_only:
    rules:
      - serve: on
"""
"""Client-visible flags (one with HTML-hostile text) and a server-only one."""

CLIENT_FLAGS_FOR_PRO = {
    "banner": {"value": "</script><script>alert('x')</script> & \u2028", "variant": "tricky"},
    "new_ui": {"value": True, "variant": "on"},
}
"""What ``bootstrap()`` gives a ``plan: pro`` user for CLIENT_FLAGS_YAML."""


def bootstrap_from_html(page: str, element_id: str = "flagkit-bootstrap") -> Any:
    """Parse the JSON of ``<script type="application/json" id=...>`` out of a page, as a browser would."""
    import json
    import re

    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    assert match is not None, page
    assert "<" not in match.group(1)  # nothing inside can end the element
    return json.loads(match.group(1))
