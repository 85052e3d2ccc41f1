"""A real Django project (tests/integrations/realsite) under real servers: gunicorn (WSGI)
and uvicorn (ASGI, two workers), started from another working directory, with users who log
in through Django's own login view (session cookie, CSRF, sqlite database file)."""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.helpers.anonymous import check_sticky_anonymous_rollout
from tests.helpers.servers import Server, run_server

from .conftest import wait_for

PROJECT = Path(__file__).resolve().parent / "realsite"
PASSWORD = "a-long-test-password-9"
SETTINGS = "realsite.settings"  # explicit: test_django.py sets another one in os.environ

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated sqlite database with a staff user, a plain user and a beta-group member."""
    tmp = tmp_path_factory.mktemp("realsite")
    env = {"REALSITE_DB": str(tmp / "db.sqlite3"), "DJANGO_SETTINGS_MODULE": SETTINGS}
    manage(tmp, env, "migrate", "--verbosity", "0")
    manage(
        tmp,
        env,
        "shell",
        "-c",
        "from django.contrib.auth.models import Group, User\n"
        f"User.objects.create_user('staff', password={PASSWORD!r}, is_staff=True)\n"
        f"User.objects.create_user('plain', password={PASSWORD!r})\n"
        f"tester = User.objects.create_user('tester', password={PASSWORD!r})\n"
        "tester.groups.add(Group.objects.create(name='beta'))\n",
    )
    return {**env, "WORKDIR": str(tmp)}


def manage(cwd: Path, env: dict[str, str], *args: str) -> str:
    import os

    result = subprocess.run(
        [sys.executable, str(PROJECT / "manage.py"), *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def elsewhere(site: dict[str, str]) -> Path:
    """A working directory that is not the project's (the flag file path is relative)."""
    path = Path(site["WORKDIR"]) / "elsewhere"
    path.mkdir(exist_ok=True)
    return path


def logged_in(server: Server, username: str | None, clients: ExitStack) -> httpx.Client:
    """A browser-like client that logged in through the login form (CSRF token and all)."""
    client = clients.enter_context(httpx.Client(base_url=server.url, timeout=30))
    if username is not None:
        form = client.get("/accounts/login/")
        assert form.status_code == 200, form.text
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert match is not None, form.text
        answer = client.post(
            "/accounts/login/",
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": match.group(1)},
        )
        assert answer.status_code == 302, answer.text  # to LOGIN_REDIRECT_URL
        assert "sessionid" in client.cookies
    return client


# The project is importable through PYTHONPATH (run_server's python_path), not gunicorn's
# --pythonpath, which splits its value on commas (and CI's clone path has one).
GUNICORN = ["-m", "gunicorn", "-b", "127.0.0.1:{port}", "-w", "2", "realsite.wsgi:application"]
UVICORN = ["-m", "uvicorn", "--app-dir", str(PROJECT), "--port", "{port}", "--workers", "2",
           "realsite.asgi:application"]  # fmt: skip


@pytest.mark.parametrize("argv", [GUNICORN, UVICORN], ids=["gunicorn-wsgi", "uvicorn-asgi"])
def test_staff_user_reaches_the_staff_flag_under_a_real_server(
    site: dict[str, str], argv: list[str], tmp_path: Path
) -> None:
    """Issue 16: under uvicorn the CONTEXT callable raised SynchronousOnlyOperation on every
    authenticated request, and a staff user got 404 where gunicorn gave 200."""
    env = {
        "REALSITE_DB": site["REALSITE_DB"],
        "REALSITE_FILE_REQUIRED": "1",
        "DJANGO_SETTINGS_MODULE": SETTINGS,
    }
    with (
        run_server(
            argv, cwd=elsewhere(site), log_dir=tmp_path, env=env, ready_path="/health/", python_path=[PROJECT]
        ) as server,
        ExitStack() as clients,
    ):
        staff, plain, tester, anonymous = (
            logged_in(server, name, clients) for name in ("staff", "plain", "tester", None)
        )
        for _ in range(4):  # several requests, so that both workers answer some
            for path in ("/staff-beta/", "/async-staff-beta/"):
                assert staff.get(path).status_code == 200
                assert plain.get(path).status_code == 404
                assert anonymous.get(path).status_code == 404
        context = staff.get("/whoami/").json()["context"]
        assert context["staff"] is True
        assert context["beta_tester"] is False
        assert tester.get("/async-whoami/").json()["context"]["beta_tester"] is True
        assert staff.get("/async-whoami/").json()["context"]["staff"] is True
    log = server.log
    assert "Traceback" not in log, log
    assert "SynchronousOnlyOperation" not in log, log
    assert "CONTEXT'] callable failed" not in log, log


# --- manage.py flagkit and manage.py check in the real project (issue 18) --------------------------


def run_manage(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, str(PROJECT / "manage.py"), *args],
        cwd=cwd,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_manage_py_flagkit_runs_the_cli_on_the_settings_file(site: dict[str, str], tmp_path: Path) -> None:
    flags = tmp_path / "features.yaml"
    flags.write_text((PROJECT / "config" / "features.yaml").read_text())
    env = {"REALSITE_DB": site["REALSITE_DB"], "REALSITE_FLAGS": str(flags)}
    cwd = elsewhere(site)

    valid = run_manage(cwd, env, "flagkit", "validate")
    assert valid.returncode == 0, valid.stderr
    assert f"{flags}: ok (3 flags)" in valid.stdout

    on = run_manage(cwd, env, "flagkit", "eval", "staff_beta", "-c", "staff=true", "--json")
    assert on.returncode == 0, on.stderr
    assert '"value": true' in on.stdout

    dry = run_manage(cwd, env, "flagkit", "kill", "staff_beta", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "enabled: false" in dry.stdout
    assert "enabled: false" not in flags.read_text()

    killed = run_manage(cwd, env, "flagkit", "kill", "staff_beta")
    assert killed.returncode == 0, killed.stderr
    assert "enabled: false" in flags.read_text()
    off = run_manage(cwd, env, "flagkit", "eval", "staff_beta", "-c", "staff=true", "--json")
    assert '"value": false' in off.stdout
    assert run_manage(cwd, env, "flagkit", "revive", "staff_beta").returncode == 0

    old = tmp_path / "old.yaml"
    old.write_text("features:\n  staff_beta: false\n  beta_group_feature: false\n")
    diff = run_manage(cwd, env, "flagkit", "diff", str(old), "-c", "staff=true")
    assert diff.returncode == 1, diff.stderr  # like diff(1): 1 when the versions differ
    assert "staff_beta" in diff.stdout
    assert "flags differ" in diff.stdout

    unknown = run_manage(cwd, env, "flagkit", "eval", "no_such_flag")
    assert unknown.returncode != 0  # the CLI's exit code, not 0


def test_manage_py_check_reports_lint_warnings_and_errors(site: dict[str, str], tmp_path: Path) -> None:
    flags = tmp_path / "features.yaml"
    flags.write_text(
        "features:\n"
        "  staff_beta:\n"
        "    expires: 2020-01-01\n"
        "    rules:\n"
        "      - serve: on\n"
        "      - name: never\n"
        "        when: {staff: true}\n"
        "        serve: off\n"
    )
    env = {"REALSITE_DB": site["REALSITE_DB"], "REALSITE_FLAGS": str(flags)}
    checked = run_manage(elsewhere(site), env, "check")
    assert checked.returncode == 0, checked.stderr  # warnings do not fail the check
    out = checked.stdout + checked.stderr
    assert "flagkit.W002" in out
    assert "[expired]" in out
    assert "[unreachable-rule]" in out
    assert f"{flags}:3: features.staff_beta.expires" in out

    flags.write_text("features:\n  staff_beta:\n    variants: {a: 1}\n    default: nope\n")
    broken = run_manage(elsewhere(site), env, "check")
    assert broken.returncode != 0
    assert "flagkit.E002" in broken.stderr


# --- the anonymous id: sticky rollouts for logged-out visitors (issue 18) ---------------------------


@pytest.mark.parametrize("argv", [GUNICORN, UVICORN], ids=["gunicorn-wsgi", "uvicorn-asgi"])
def test_anonymous_visitors_get_a_sticky_id_under_a_real_server(
    site: dict[str, str], argv: list[str], tmp_path: Path
) -> None:
    env = {
        "REALSITE_DB": site["REALSITE_DB"],
        "REALSITE_ANONYMOUS_ID": "1",
        "DJANGO_SETTINGS_MODULE": SETTINGS,
    }
    with run_server(
        argv, cwd=elsewhere(site), log_dir=tmp_path, env=env, ready_path="/health/", python_path=[PROJECT]
    ) as server:

        def new_client() -> httpx.Client:
            return httpx.Client(base_url=server.url, timeout=30)

        check_sticky_anonymous_rollout(new_client, "/flag/anon_rollout/", "/whoami/")
        check_sticky_anonymous_rollout(new_client, "/async-flag/anon_rollout/", "/async-whoami/")
        with ExitStack() as clients:
            staff = logged_in(server, "staff", clients)
            ctx = staff.get("/whoami/").json()["context"]
            assert ctx["user_id"]
            assert "targeting_key" not in ctx  # a logged-in user is bucketed by user_id
            assert ctx["anonymous_id"] == staff.cookies["flagkit_anon"]
    assert "Traceback" not in server.log, server.log


# --- usage exported by every worker (issue 18) ------------------------------------------------------


def read_usage_files(directory: Path) -> dict[int, int]:
    """pid → evaluations of staff_beta, from each worker's usage-export file."""
    import json

    out = {}
    for path in directory.glob("web-*.json"):
        out[int(path.stem.removeprefix("web-"))] = json.loads(path.read_text())["flags"]["staff_beta"][
            "evaluations"
        ]
    return out


@pytest.mark.parametrize(
    ("argv", "interval"),
    [(GUNICORN, "3600"), (UVICORN, "1")],
    ids=["gunicorn-wsgi-at-exit", "uvicorn-asgi-periodic"],
)
def test_every_worker_exports_its_usage(
    site: dict[str, str], argv: list[str], interval: str, tmp_path: Path
) -> None:
    """gunicorn: with an hour's interval only the export at worker exit can write the files.
    uvicorn re-raises SIGTERM after its graceful shutdown, so exit handlers do not run there:
    the periodic export (1 s here) must deliver every count while the server runs."""
    usage_dir = tmp_path / "usage"
    env = {
        "REALSITE_DB": site["REALSITE_DB"],
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "REALSITE_USAGE_EXPORT": str(usage_dir / "web-{pid}.json"),
        "REALSITE_USAGE_INTERVAL": interval,
    }
    served: dict[int, int] = {}
    with run_server(
        argv, cwd=elsewhere(site), log_dir=tmp_path, env=env, ready_path="/health/", python_path=[PROJECT]
    ) as server:
        for _ in range(60):  # fresh connections: the kernel spreads them over both workers
            answer = httpx.get(f"{server.url}/flag/staff_beta/", timeout=30).json()
            served[answer["pid"]] = served.get(answer["pid"], 0) + 1
        if argv is UVICORN:
            assert wait_for(lambda: read_usage_files(usage_dir) == served), (
                served,
                read_usage_files(usage_dir),
            )
        else:
            assert read_usage_files(usage_dir) == {}  # nothing yet: the interval is an hour
    files = read_usage_files(usage_dir)
    assert files == served, (served, files, server.log)
    assert "Traceback" not in server.log, server.log
