"""`flagkit validate` on a 10,000-flag file, process start included (pre-commit hook speed).

Run with `make bench`. Target from the CLI issue: under 2 s.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.bench_load import make_document


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "flags.yaml")
        path.write_text(yaml.safe_dump(make_document(10_000), sort_keys=False))
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "flagkit", "validate", str(path)], capture_output=True, text=True
            )
            timings.append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit(f"validate failed: {proc.stdout[-500:]}{proc.stderr[-500:]}")
        best = min(timings)
        print(
            f"flagkit validate, 10,000 flags ({path.stat().st_size / 1e6:.2f} MB YAML), process included: "
            f"best {best:.2f} s, all {', '.join(f'{t:.2f}' for t in timings)} s "
            f"(target < 2 s) {'ok' if best < 2 else 'SLOW'}"
        )


if __name__ == "__main__":
    main()
