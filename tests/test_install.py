"""The distribution as a user gets it (issue 18): built into a wheel, installed with ``[all]`` in a
fresh virtual environment outside the repository, under the name ``pyflagkit`` (PyPI's
``flagkit`` is an unrelated project), and ``flagkit demo`` run from another directory."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_distribution_name_and_the_all_extra() -> None:
    project = PYPROJECT["project"]
    assert project["name"] == "pyflagkit"
    extras = project["optional-dependencies"]
    (everything,) = extras["all"]
    assert everything.startswith("pyflagkit[")
    included = set(everything.removeprefix("pyflagkit[").removesuffix("]").split(","))
    # Every optional feature is in `all` (only the developers' `dev` extra is not).
    assert included == set(extras) - {"all", "dev"}


def _run(*args: str | Path, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "FLAGKIT_FILE"}}
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    assert proc.returncode == 0, f"{args}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_wheel_installs_with_all_and_runs_the_demo_anywhere(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        dist,
        REPO,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("pyflagkit-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    # Dependencies come from the configured index (or its cache); the package from the wheel.
    _run(python, "-m", "pip", "install", "-q", f"pyflagkit[all] @ {wheel.as_uri()}", cwd=tmp_path)
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    demo = _run(bindir / "flagkit", "demo", cwd=elsewhere)
    lines = demo.stdout.splitlines()
    assert lines[0].startswith("flagkit demo: 12 flags from ")
    assert "new_search" in demo.stdout
    # Every extra's import works in the installed environment.
    probe = (
        "import importlib.metadata as m, flagkit, django, flask, openfeature, opentelemetry, "
        "prometheus_client, re2, redis; print(m.version('pyflagkit'), flagkit.__version__)"
    )
    versions = _run(python, "-c", probe, cwd=elsewhere).stdout.split()
    assert versions[0] == versions[1] == PYPROJECT["project"]["version"]
    # ... and so does every integration module of flagkit: `all` covers what they import.
    integrations = (
        "import importlib, pkgutil, django.conf, flagkit.integrations as i\n"
        "django.conf.settings.configure()\n"
        "names = [m.name for m in pkgutil.walk_packages(i.__path__, 'flagkit.integrations.')]\n"
        "for name in names + ['flagkit.providers.redis']: importlib.import_module(name)\n"
        "print(len(names))"
    )
    assert int(_run(python, "-c", integrations, cwd=elsewhere).stdout) >= 15
