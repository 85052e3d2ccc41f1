"""Pre-fork servers whose app creates its client at import, in the master: real uWSGI (its
default pre-fork, no ``lazy-apps``: it forks from C and runs none of Python's fork hooks) and
real gunicorn ``--preload`` (``os.fork``: the hooks run).

The master must run no flagkit thread when it forks (a child would inherit one caught holding
a lock - a worker hung for ever at start); every worker must answer with the flag's value and
pick up a later change of the file, whether or not the app goes through flagkit's middleware.
"""

from __future__ import annotations

import contextlib
import os
import signal
import site
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts the master's threads in /proc"),
]

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2

APPS = {
    # The client at import, evaluated in the view: no flagkit entry point but the evaluation.
    "plain": """
        import os
        import time

        from flask import Flask

        from flagkit import FileProvider, Flags

        flags = Flags(FileProvider(os.environ["FLAGS_FILE"]))
        app = Flask(__name__)

        @app.route("/")
        def index():
            time.sleep(0.05)  # keeps a worker busy, so that concurrent requests reach the others
            return f"{os.getpid()} {flags.get_value('color', 'none')}"
    """,
    # The Flask extension (its middleware enters flags.context() on every request).
    "extension": """
        import os
        import time

        from flask import Flask

        from flagkit.integrations.flask import FlagKit, get_flags

        app = Flask(__name__)
        app.config["FLAGKIT_FILE"] = os.environ["FLAGS_FILE"]
        FlagKit(app)

        @app.route("/")
        def index():
            time.sleep(0.05)
            return f"{os.getpid()} {get_flags().get_value('color', 'none')}"
    """,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def uwsgi_command(port: int, app_dir: Path) -> list[str]:
    binary = Path(sys.executable).with_name("uwsgi")  # a compiled binary: no shebang to break
    return [
        str(binary),
        "--master",
        "--processes",
        str(WORKERS),
        "--http-socket",
        f"127.0.0.1:{port}",
        "--wsgi-file",
        str(app_dir / "app.py"),
        "--callable",
        "app",
        "--need-app",
        "--die-on-term",
        "--disable-logging",
        "--pythonpath",
        str(ROOT),
        # The venv's packages, named: uWSGI's embedded Python does not find them from a venv
        # at a non-ASCII path (CI's clone path has one), and then flagkit's imports fail.
        *(arg for path in site.getsitepackages() for arg in ("--pythonpath", path)),
    ]


GUNICORN_CONFIG = """
import threading

def pre_fork(server, worker):  # in the master, right before each fork
    running = [t.name for t in threading.enumerate() if t.name.startswith("flagkit")]
    with open("forks.log", "a") as fh:
        fh.write(" ".join(running) + "\\n")
"""


def gunicorn_command(port: int, app_dir: Path) -> list[str]:
    (app_dir / "gunicorn_config.py").write_text(GUNICORN_CONFIG)
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(app_dir / "gunicorn_config.py"),
        "--preload",
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(app_dir),
        "app:app",
    ]


SERVERS = {"uwsgi": uwsgi_command, "gunicorn": gunicorn_command}


def get(url: str) -> tuple[int, str] | None:
    """(worker pid, served color), or None when the request failed or timed out."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            pid, color = response.read().decode().split()
            return int(pid), color
    except (OSError, ValueError):
        return None


def answers(url: str, rounds: int = 8) -> list[tuple[int, str] | None]:
    """``rounds`` concurrent requests, so that every worker gets some."""
    results: list[tuple[int, str] | None] = [None] * rounds

    def one(index: int) -> None:
        results[index] = get(url)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(rounds)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def every_worker_serves(url: str, color: str, timeout: float = 30.0) -> dict[int, str]:
    """Wait until ``WORKERS`` distinct workers have served ``color``; their last answers."""
    deadline = time.monotonic() + timeout
    last: dict[int, str] = {}
    while time.monotonic() < deadline:
        for answer in answers(url):
            if answer is not None:
                last[answer[0]] = answer[1]
        if len(last) >= WORKERS and all(value == color for value in last.values()):
            return last
        time.sleep(0.1)
    raise AssertionError(f"workers' last answers after {timeout} s: {last} (wanted {WORKERS} x {color!r})")


@contextmanager
def server(kind: str, app_dir: Path, flag_file: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {**os.environ, "FLAGS_FILE": str(flag_file), "PYTHONPATH": str(ROOT)}
    log = (app_dir / "server.log").open("wb")
    process = subprocess.Popen(
        SERVERS[kind](port, app_dir), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while get(url) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{kind} did not start:\n{(app_dir / 'server.log').read_text()}")
            time.sleep(0.1)
        yield url, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(ProcessLookupError):  # a hung worker outlives its master
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


@pytest.mark.parametrize("style", sorted(APPS))
@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_every_prefork_worker_serves_and_follows_the_file(tmp_path: Path, kind: str, style: str) -> None:
    flag_file = tmp_path / "features.yaml"
    flag_file.write_text("features:\n  color: red\n")
    (tmp_path / "app.py").write_text(textwrap.dedent(APPS[style]))
    with server(kind, tmp_path, flag_file) as (url, master):
        first = every_worker_serves(url, "red")
        # The master created the client and never used it: no thread of flagkit's ran there
        # when it forked, nor since (a pre-fork master that evaluates flags is on its own).
        if kind == "uwsgi":
            assert threads_of(master.pid) == 1  # uWSGI's master has no thread of its own
        else:
            forks = (tmp_path / "forks.log").read_text().splitlines()
            assert len(forks) >= WORKERS
            assert set(forks) == {""}, forks  # flagkit threads running at each fork
        staged = flag_file.with_suffix(".tmp")
        staged.write_text("features:\n  color: blue\n")
        os.replace(staged, flag_file)
        then = every_worker_serves(url, "blue")
        assert set(first) <= set(then) or len(then) >= WORKERS  # a worker may have been recycled
