"""The peers' published test suites (data only), e.g. flagd-testbed's evaluator suite.

They live beside the clone, at ``<parent>/shared/peer-suites/<name>`` for some parent directory of
the checkout (``../shared/peer-suites`` from the main clone, ``../../shared/peer-suites`` from a
worktree), or wherever ``FLAGKIT_PEER_SUITES`` points. A fresh clone without them skips the tests
that read them. ``.ci/run`` sets ``FLAGKIT_PEER_SUITES`` when it finds the suites beside the clone
(it runs the tests from a copy elsewhere); then a missing suite fails instead of skipping.
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
    if configured:
        pytest.fail(f"peer suite {name!r} is missing from FLAGKIT_PEER_SUITES={configured}")
    pytest.skip(
        f"peer suite {name!r} is not beside this clone (../shared/peer-suites/{name}); "
        "set FLAGKIT_PEER_SUITES"
    )
