"""Reload latency: time from a completed write to the new value being served, and idle CPU.

Run with ``python benchmarks/bench_reload.py``.
For each save style (in-place rewrite, temp file + atomic rename) the file flips between two
versions; the clock starts when the writer's ``close()`` / ``rename()`` returns and stops when
``get_value`` returns the new value (polled every 0.2 ms by the measuring thread).

Goals from the providers issue: median < 100 ms for both styles, ~0 % CPU while idle.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flagkit import FileProvider, Flags

ROUNDS = 60


def doc(value: str) -> str:
    return f"features:\n  color: {value}\n  checkout: true\n  limit: 25\n"


def in_place(path: Path, content: str) -> None:
    with open(path, "w") as fh:
        fh.write(content)


def atomic_rename(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as fh:
        fh.write(content)
    os.replace(tmp, path)


def measure(save: Callable[[Path, str], None], directory: Path) -> list[float]:
    path = directory / f"{save.__name__}.yaml"
    path.write_text(doc("v0"))
    latencies = []
    provider = FileProvider(path)
    # Isolated saves: further apart than min_interval (closer saves are a storm, read at
    # most once per min_interval by design).
    spacing = provider.min_interval + 0.05
    with Flags(provider) as flags:
        time.sleep(0.3)  # the watcher starts in the background
        for i in range(1, ROUNDS + 1):
            value = f"v{i}"
            save(path, doc(value))
            start = time.perf_counter()
            deadline = start + 5
            while flags.get_value("color", "") != value:
                if time.perf_counter() > deadline:
                    raise SystemExit(f"{save.__name__}: change {i} not seen within 5 s")
                time.sleep(0.0002)
            latencies.append((time.perf_counter() - start) * 1000)
            time.sleep(spacing)
    return latencies


def idle_cpu(directory: Path, seconds: float = 5.0) -> float:
    path = directory / "idle.yaml"
    path.write_text(doc("idle"))
    with Flags(FileProvider(path)):
        time.sleep(0.5)
        cpu, wall = time.process_time(), time.perf_counter()
        time.sleep(seconds)
        return (time.process_time() - cpu) / (time.perf_counter() - wall) * 100


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        print(f"reload latency over {ROUNDS} writes (python {sys.version.split()[0]}, {sys.platform})")
        for save in (in_place, atomic_rename):
            ms = sorted(measure(save, directory))
            p95 = ms[int(len(ms) * 0.95) - 1]
            print(
                f"  {save.__name__:14} median {statistics.median(ms):6.2f} ms   p95 {p95:6.2f} ms"
                f"   max {ms[-1]:6.2f} ms"
            )
        print(f"idle CPU with one watched file: {idle_cpu(directory):.2f} % of one core")


if __name__ == "__main__":
    main()
