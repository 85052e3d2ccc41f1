"""The peers' published test suites (data only), e.g. flagd-testbed's evaluator suite.

They live beside the clone, at ``<parent>/shared/peer-suites/<name>`` for some parent directory of
the checkout (``../shared/peer-suites`` from the main clone, ``../../shared/peer-suites`` from a
worktree), or wherever ``FLAGKIT_PEER_SUITES`` points. A fresh clone outside CI has none: the tests
that read them skip; under CI (``CI`` set), where the suites are shipped, a missing one fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]


def peer_suite(name: str) -> Path:
    """The folder of the peer suite ``name``; skips (fails under CI) when it is absent."""
    configured = os.environ.get("FLAGKIT_PEER_SUITES")
    candidates = [Path(configured) / name] if configured else []
    candidates += [parent / "shared" / "peer-suites" / name for parent in _REPO.parents]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    if os.environ.get("CI"):
        pytest.fail(
            f"peer suite {name!r} is missing under CI (set FLAGKIT_PEER_SUITES or ship ../shared/peer-suites)"
        )
    pytest.skip(
        f"peer suite {name!r} is not beside this clone (../shared/peer-suites/{name}); "
        "set FLAGKIT_PEER_SUITES"
    )
