"""A fleet on one machine: how long one change takes to reach N processes, and what it costs.

Run with `make bench-fleet` (not part of the test suite). It starts, on 127.0.0.1 only:

* nginx serving ``flags.json`` (its own ETag) — the "static host / CDN / object storage" set-up;
* redis-server — the "Redis push" set-up;
* N worker processes (default 50, at most 200), each with three clients: an ``HttpProvider``
  polling nginx every ``--interval`` seconds (default 5) with ETag, a ``RedisProvider``
  (pub/sub, 30 s safety poll), and a ``FileProvider`` on a Kubernetes-style ConfigMap
  directory (``..data`` symlink swapped atomically).

After every worker serves the first version it watches the origin for ``--idle`` seconds
(requests per second at nginx and their 304 share, from its access log; commands per second
at Redis), then changes the sources one after the other (Redis: ``publish``, which validates
and writes; the ConfigMap; nginx's file) and records, for every worker, when each client
first serves the new value (an ``on_change`` listener takes the system-wide monotonic clock
right after the snapshot swap), from the moment just before that source's change. It prints
p50 / p99 / max per set-up.

Every worker exits by itself after ``--timeout`` seconds or when this process goes away.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MAX_WORKERS = 200
KEY = "flags:fleet"


def document(color: str) -> bytes:
    """A small realistic document; ``color`` is the flag that changes."""
    features: dict[str, Any] = {"color": {"variants": {"old": "old", "new": color}, "default": "new"}}
    for i in range(50):
        features[f"flag_{i}"] = {"rules": [{"when": {"plan": "pro"}, "serve": {"on": 10 + i, "off": 90 - i}}]}
    return json.dumps({"features": features}, indent=1).encode()


# --- the worker ---------------------------------------------------------------------------


def worker(args: argparse.Namespace) -> int:
    """One fleet member: three clients, one line of JSON per event on stdout."""
    import threading

    from flagkit import FileProvider, Flags, HttpProvider, RedisProvider

    parent = os.getppid()
    out_lock = threading.Lock()

    def say(**message: Any) -> None:
        with out_lock:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    clients = {
        "http": Flags(HttpProvider(args.url, interval=args.interval)),
        "redis": Flags(RedisProvider(args.redis, key=KEY)),
        "file": Flags(FileProvider(Path(args.configmap) / "flags.json")),
    }
    target = args.expect
    seen: set[str] = set()

    def listener(name: str, flags: Flags) -> Any:
        def on_change(keys: set[str]) -> None:
            now = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process on the host
            if name not in seen and flags.get_value("color", "") == target:
                seen.add(name)
                say(client=name, seen=now)

        return on_change

    for name, flags in clients.items():
        flags.on_change(listener(name, flags))
    end = time.monotonic() + args.timeout
    ready = False
    while time.monotonic() < end and os.getppid() == parent:
        if not ready and all(f.wait_ready(0.05) and f.get_value("color", "") for f in clients.values()):
            ready = True
            say(ready=True, values={n: f.get_value("color", "") for n, f in clients.items()})
        if len(seen) == len(clients):
            break
        time.sleep(0.05)
    for flags in clients.values():
        flags.close()
    return 0


# --- the coordinator ----------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def swap_configmap(root: Path, body: bytes, generation: int) -> None:
    """Update a ConfigMap volume the way the kubelet does: new dir, ``..data`` symlink swap."""
    data = root / f"..{generation}"
    data.mkdir()
    (data / "flags.json").write_bytes(body)
    tmp = root / "..data_tmp"
    tmp.symlink_to(data.name)
    os.replace(tmp, root / "..data")
    if not (root / "flags.json").is_symlink():
        (root / "flags.json").symlink_to("..data/flags.json")


def access_lines(log: Path, start: float, end: float) -> list[tuple[float, str]]:
    """(time, status) of the requests nginx logged between ``start`` and ``end`` (Unix time)."""
    rows = []
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] == "/flags.json" and start <= float(parts[0]) < end:
            rows.append((float(parts[0]), parts[3]))
    return rows


def coordinator(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO))
    from flagkit.providers._redis_wire import connect, publish
    from tests.helpers.nginx import NginxServer, find_nginx
    from tests.helpers.redis_server import RedisServer, find_redis_server

    n = min(args.workers, MAX_WORKERS)
    nginx_bin, redis_bin = find_nginx(), find_redis_server()
    if nginx_bin is None or redis_bin is None:
        print("bench_fleet needs nginx and redis-server (apt-get install nginx-light redis-server)")
        return 2
    with tempfile.TemporaryDirectory(prefix="flagkit-fleet-") as tmp:
        root = Path(tmp)
        nginx = NginxServer(nginx_bin, root / "nginx")
        (root / "nginx").mkdir()
        redis_server = RedisServer(redis_bin, (root / "redis"))
        (root / "redis").mkdir()
        configmap = root / "configmap"
        configmap.mkdir()
        workers: list[subprocess.Popen[bytes]] = []
        try:
            nginx.start()
            redis_server.start()
            (nginx.www / "flags.json").write_bytes(document("blue"))
            publish(redis_server.url, KEY, document("blue"))
            swap_configmap(configmap, document("blue"), 1)
            result = run_fleet(args, n, nginx, redis_server, configmap, workers, publish, connect)
        finally:
            for process in workers:
                if process.poll() is None:
                    process.terminate()
            for process in workers:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
                if process.stdout:
                    process.stdout.close()
            nginx.stop()
            redis_server.stop()
    return result


def run_fleet(
    args: argparse.Namespace,
    n: int,
    nginx: Any,
    redis_server: Any,
    configmap: Path,
    workers: list[subprocess.Popen[bytes]],
    publish: Any,
    connect: Any,
) -> int:
    new_color = "green-with-a-longer-name"  # another size: nginx's ETag changes at once
    command = [
        sys.executable,
        "-m",
        "benchmarks.bench_fleet",
        "--worker",
        "--url",
        f"{nginx.base}/flags.json",
    ]
    command += ["--redis", redis_server.url, "--configmap", str(configmap), "--expect", new_color]
    command += ["--interval", str(args.interval), "--timeout", str(args.timeout)]
    started = time.monotonic()
    errors = configmap.parent / "worker-errors.log"  # a worker that fails says why here
    with errors.open("ab") as stderr:
        for _ in range(n):
            workers.append(subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=stderr))
    buffers = {p.stdout.fileno(): b"" for p in workers if p.stdout}
    events: list[dict[str, Any]] = []

    def pump(until: float, done: Any) -> None:
        while time.monotonic() < until and not done():
            ready, _, _ = select.select(list(buffers), [], [], 0.2)
            for fd in ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    buffers.pop(fd)
                    continue
                buffers[fd] += chunk
                *lines, buffers[fd] = buffers[fd].split(b"\n")
                events.extend(json.loads(line) for line in lines if line.strip())

    # On a busy 2-core machine 50 interpreters take minutes to start: wait up to half their lifetime.
    pump(time.monotonic() + args.timeout / 2, lambda: sum("ready" in e for e in events) >= n)
    ready = [e for e in events if "ready" in e]
    if len(ready) < n:
        print(f"only {len(ready)} of {n} workers became ready; their errors:")
        print(errors.read_text(errors="replace")[-3000:])
        return 1
    print(
        f"{n} workers ready in {time.monotonic() - started:.1f} s; watching the origins for {args.idle:g} s"
    )
    admin = connect(redis_server.url, 5.0)
    commands_before = admin.info("stats")["total_commands_processed"]
    idle_start_wall, idle_start = time.time(), time.monotonic()
    time.sleep(args.idle)
    idle_wall = time.time() - idle_start_wall
    idle_commands = admin.info("stats")["total_commands_processed"] - commands_before - 1  # this INFO
    clients = admin.info("clients")["connected_clients"] - 1
    idle_requests = access_lines(nginx.access_log, idle_start_wall, idle_start_wall + idle_wall)
    del idle_start

    # One change per source, one source at a time (so the phases do not compete for the CPU).
    body = document(new_color)
    starts: dict[str, float] = {}

    def change(name: str) -> None:
        starts[name] = time.monotonic()
        if name == "redis":
            publish(redis_server.url, KEY, body)  # validates, then MULTI/EXEC + PUBLISH
        elif name == "file":
            swap_configmap(configmap, body, 2)
        else:
            tmp = nginx.www / ".flags.json.tmp"
            tmp.write_bytes(body)
            os.replace(tmp, nginx.www / "flags.json")
        limit = starts[name] + (args.interval * 3 + 30 if name == "http" else 30)
        pump(limit, lambda: sum(e.get("client") == name for e in events) >= n)

    for name in ("redis", "file", "http"):
        change(name)
    admin.close()

    seen: dict[str, list[float]] = {"http": [], "redis": [], "file": []}
    for event in events:
        if "client" in event:
            seen[event["client"]].append((event["seen"] - starts[event["client"]]) * 1000)
    print()
    print(f"propagation of one change to {n} processes (ms from the write to serving it)")
    print(f"{'set-up':<34}{'reached':>9}{'p50':>10}{'p99':>10}{'max':>10}")
    labels = {
        "http": f"HttpProvider + nginx ETag, {args.interval:g} s",
        "redis": "RedisProvider pub/sub",
        "file": "FileProvider, ConfigMap swap",
    }
    for name, values in seen.items():
        if values:
            print(
                f"{labels[name]:<34}{len(values):>6}/{n:<2}{percentile(values, 0.5):>10.1f}"
                f"{percentile(values, 0.99):>10.1f}{max(values):>10.1f}"
            )
        else:
            print(f"{labels[name]:<34}{0:>6}/{n:<2}{'-':>10}{'-':>10}{'-':>10}")
    print()
    not_modified = sum(status == "304" for _, status in idle_requests)
    share = not_modified / len(idle_requests) if idle_requests else 0.0
    print(f"origin cost while idle ({idle_wall:.1f} s, {n} processes)")
    print(f"  nginx: {len(idle_requests) / idle_wall:.1f} requests/s, {share:.0%} answered 304 Not Modified")
    print(f"  redis: {idle_commands / idle_wall:.1f} commands/s, {clients} connections (2 per process)")
    return 0 if all(len(v) == n for v in seen.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "--workers", type=int, default=50, help=f"processes (default 50, at most {MAX_WORKERS})"
    )
    parser.add_argument("--interval", type=float, default=5.0, help="HTTP poll interval, seconds (default 5)")
    parser.add_argument("--idle", type=float, default=15.0, help="seconds to watch the origins (default 15)")
    parser.add_argument("--timeout", type=float, default=900.0, help="a worker's lifetime cap, seconds")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--configmap", help=argparse.SUPPRESS)
    parser.add_argument("--expect", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    return coordinator(args)


if __name__ == "__main__":
    sys.exit(main())
