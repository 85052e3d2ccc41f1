"""What a loaded flag set keeps (issue 12, "Memory at scale").

Bounded per flag, so the validated pydantic models (~1.7 KB a flag) or the parsed document
cannot silently come back. Memory, unlike time, does not depend on the machine's load; the
10,000-flag figures are `make bench` (benchmarks/bench_memory.py).
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path

import pytest
import yaml

from benchmarks.bench_load import make_document
from flagkit import FlagSet

FLAGS = 2000
MAX_BYTES_PER_FLAG = 1500
"""~540 bytes a flag are kept now; ~4,800 were when the models and parsed document were."""


def _write(path: Path, doc: object) -> None:
    path.write_text(yaml.safe_dump(doc, sort_keys=False) if path.suffix == ".yaml" else json.dumps(doc))


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_loaded_flag_set_keeps_little_per_flag(tmp_path: Path, suffix: str) -> None:
    path, warm = tmp_path / f"flags{suffix}", tmp_path / f"warm{suffix}"
    _write(path, make_document(FLAGS))
    _write(warm, make_document(8))
    FlagSet.from_file(warm)  # one-time imports and caches are not what a flag set keeps
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        flagset = FlagSet.from_file(path)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert len(flagset) == FLAGS
    assert retained / FLAGS < MAX_BYTES_PER_FLAG, f"{retained / FLAGS:.0f} bytes per flag"
