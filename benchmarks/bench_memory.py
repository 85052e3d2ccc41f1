"""Retained memory: what a loaded 10,000-flag file keeps, from YAML and from JSON.

Run with `make bench`. Each format is loaded in a fresh process (so the imports and caches of
one measurement do not count in the next): flagkit is imported and a small document of the
same format is loaded first (one-time imports and caches), then tracemalloc measures
``FlagSet.from_file`` of the 10,000-flag file (`bench_load.make_document()`): "retained" is
what is still allocated after ``gc.collect()`` while the flag set is alive, "peak" the high
point during the load, both relative to the memory in use just before it.

Target from issue 12: <= 15 MiB retained for each format (flagkit 0.1.0.dev0 kept 47.1 MiB).
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import yaml

from benchmarks.bench_load import make_document
from flagkit import FlagSet

TARGET_MIB = 15.0
_MIB = 2**20


def measure_child(path: Path) -> None:
    """Child process: ``retained peak flags`` (bytes, bytes, count) of loading ``path``."""
    warm = path.with_name("warm" + path.suffix)
    FlagSet.from_file(warm)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    flagset = FlagSet.from_file(path)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(current - base, peak - base, len(flagset))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        measure_child(Path(sys.argv[2]))
        return
    doc = make_document()
    small = make_document(8)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        files = {"YAML": Path(tmp, "flags.yaml"), "JSON": Path(tmp, "flags.json")}
        files["YAML"].write_text(yaml.safe_dump(doc, sort_keys=False))
        files["JSON"].write_text(json.dumps(doc))
        Path(tmp, "warm.yaml").write_text(yaml.safe_dump(small, sort_keys=False))
        Path(tmp, "warm.json").write_text(json.dumps(small))
        print("retained memory after loading 10,000 flags (tracemalloc, fresh process per format)")
        for label, path in files.items():
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_memory", "--child", str(path)],
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
            retained, peak, count = (int(part) for part in out.stdout.split())
            ok = retained / _MIB <= TARGET_MIB
            failed |= not ok
            print(
                f"{label}: {retained / _MIB:5.1f} MiB retained ({retained / count:,.0f} bytes per flag; "
                f"target <= {TARGET_MIB:g}) {'ok' if ok else 'TOO MUCH'}, peak {peak / _MIB:.1f} MiB"
            )
    if failed:
        print("retained memory over target")


if __name__ == "__main__":
    main()
