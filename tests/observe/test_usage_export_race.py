"""Concurrent `export_usage` calls of one client never lose or double count (issue 17)."""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
from pathlib import Path

from flagkit import Flags
from flagkit._observe.usage import read_usage


def test_concurrent_exports_of_one_client_add_up_exactly(tmp_path: Path) -> None:
    # Each export took its snapshot outside the recorder's lock: an export that read earlier
    # counts but wrote later subtracted the other's newer counts (a negative change), so the
    # file's count went down and up again instead of only up.
    flags = Flags.from_dict({"beta": True}, usage=True)
    path = tmp_path / "usage.json"
    evaluations_per_thread, exports_per_thread, threads = 80, 80, 6
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:

        def work() -> None:
            for i in range(evaluations_per_thread):
                flags.is_enabled("beta")
                if i % (evaluations_per_thread // exports_per_thread) == 0:
                    flags.export_usage(path)

        seen: list[int] = []
        done = threading.Event()

        def scrape() -> None:  # one reader: what it sees over time must never go down
            while not done.is_set():
                with contextlib.suppress(OSError, ValueError, KeyError):  # not written yet
                    seen.append(read_usage(path)["flags"]["beta"]["evaluations"])

        scraper = threading.Thread(target=scrape)
        scraper.start()
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        done.set()
        scraper.join(timeout=60)
        assert not any(worker.is_alive() for worker in [*workers, scraper])
    finally:
        sys.setswitchinterval(interval)
    drops = [(a, b) for a, b in itertools.pairwise(seen) if b < a]
    assert not drops, f"the exported count went down {len(drops)} times, e.g. {drops[:3]}"
    flags.export_usage(path)
    flags.close()
    assert read_usage(path)["flags"]["beta"]["evaluations"] == evaluations_per_thread * threads
