"""Load speed: a 10,000-flag file from YAML and from JSON (read → validate → compile).

Run with `make bench`. Prints wall time (best of 5) and the process's peak RSS.
Targets from the core issue: < 1 s from YAML, < 300 ms from JSON.
"""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from flagkit import FlagSet


def make_document(n: int = 10_000) -> dict[str, Any]:
    """A realistic mix: static flags, targeted booleans, splits, multi-variant flags."""
    features: dict[str, Any] = {}
    for i in range(n):
        kind = i % 4
        if kind == 0:
            features[f"static_{i}"] = i % 2 == 0
        elif kind == 1:
            features[f"targeted_{i}"] = {
                "description": f"Targeted flag {i}",
                "owner": "team-a",
                "expires": "2027-01-01",
                "rules": [
                    {"name": "staff", "when": {"segment": "staff"}, "serve": "on"},
                    {"when": {"country": ["US", "CA"], "plan": {"in": ["pro", "enterprise"]}}, "serve": "on"},
                ],
            }
        elif kind == 2:
            features[f"rollout_{i}"] = {
                "description": f"Rollout {i}",
                "rules": [{"serve": {"on": (i % 100) + 0.5, "off": 99.5 - (i % 100)}}],
            }
        else:
            features[f"variant_{i}"] = {
                "variants": {"a": "alpha", "b": "beta", "c": "gamma"},
                "default": "a",
                "rules": [
                    {"when": {"app_version": {"semver_gte": "2.0.0"}}, "serve": {"a": 50, "b": 25, "c": 25}},
                    {"when": {"email": {"ends_with": "@example.com"}}, "serve": "c"},
                ],
            }
    return {"segments": {"staff": {"email": {"ends_with": "@example.com"}}}, "features": features}


def best_of(fn: Any, repeats: int = 5) -> float:
    """Best wall time of ``fn()``. The result is kept until the clock stops: freeing a
    previous 10,000-flag set (tens of ms) is the cost of dropping it, not of loading."""
    times = []
    for _ in range(repeats):
        gc.collect()  # start each run from a settled heap, not mid-way to a full collection
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        del result
    return min(times)


def rss_mib() -> float:
    """Peak RSS of this process image (VmHWM, reset by exec unlike ru_maxrss), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_child(path: Path) -> None:
    """Child process: peak RSS of a process that only imports flagkit and loads the file."""
    before = rss_mib()
    flagset = FlagSet.from_file(path)
    print(f"{before:.0f} {rss_mib():.0f} {len(flagset)}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        measure_child(Path(sys.argv[2]))
        return
    doc = make_document()
    with tempfile.TemporaryDirectory() as tmp:
        yaml_path = Path(tmp, "flags.yaml")
        json_path = Path(tmp, "flags.json")
        yaml_path.write_text(yaml.safe_dump(doc, sort_keys=False))
        json_path.write_text(json.dumps(doc))
        del doc  # the generator's 10,000-flag dict would make every GC pass slower
        t_yaml = best_of(lambda: FlagSet.from_file(yaml_path))
        t_json = best_of(lambda: FlagSet.from_file(json_path))
        mb_yaml, mb_json = yaml_path.stat().st_size / 1e6, json_path.stat().st_size / 1e6
        print(f"10,000 flags: YAML {mb_yaml:.2f} MB, JSON {mb_json:.2f} MB (best of 5)")
        if "--baseline" in sys.argv:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            t_pyyaml = best_of(lambda: yaml.load(yaml_path.read_bytes(), Loader=loader), 1)
            print(f"PyYAML {loader.__name__} alone, for comparison: {t_pyyaml * 1000:.0f} ms")
        print(f"load YAML: {t_yaml * 1000:6.0f} ms (target < 1000) {'ok' if t_yaml < 1 else 'SLOW'}")
        print(f"load JSON: {t_json * 1000:6.0f} ms (target <  300) {'ok' if t_json < 0.3 else 'SLOW'}")
        for label, path in (("YAML", yaml_path), ("JSON", json_path)):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, check=True
            )
            before, after, count = out.stdout.split()
            print(f"peak RSS loading {label}: {after} MiB (after imports: {before} MiB), {count} flags")


if __name__ == "__main__":
    main()
