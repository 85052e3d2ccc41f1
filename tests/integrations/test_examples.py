"""The example apps in examples/ start and serve the expected pages."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flask import Flask

from flagkit.integrations.flask import get_flags

from .conftest import INSIDE_USER, OUTSIDE_USER

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_flask_example() -> Flask:
    spec = importlib.util.spec_from_file_location("flagkit_flask_example", EXAMPLES / "flask_app" / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app: Flask = module.create_app()
    return app


def test_flask_example() -> None:
    app = load_flask_example()
    try:
        client = app.test_client()
        assert "<h1>New checkout</h1>" in client.get(f"/?user={INSIDE_USER}").get_data(as_text=True)
        assert "<h1>Old checkout</h1>" in client.get(f"/?user={OUTSIDE_USER}").get_data(as_text=True)
        assert "Pay (green)" in client.get("/?plan=pro").get_data(as_text=True)
        assert client.get("/beta?plan=staff").status_code == 200
        assert client.get(f"/beta?user={OUTSIDE_USER}").headers["Location"] == "/"
    finally:
        get_flags(app).close()


@pytest.mark.slow
def test_django_example_checks_and_serves() -> None:
    project = EXAMPLES / "django_project"
    check = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stderr
    assert "no issues" in check.stdout
    script = textwrap.dedent(
        f"""
        import os, django
        os.environ["DJANGO_SETTINGS_MODULE"] = "shop.settings"
        django.setup()
        from django.test import Client
        client = Client(HTTP_HOST="localhost")
        print(client.get("/?user={INSIDE_USER}").content.decode())
        print(client.get("/?user={OUTSIDE_USER}").content.decode())
        print(client.get("/beta/?user={OUTSIDE_USER}")["Location"])
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    inside, _, rest = run.stdout.partition("</p>")
    assert "<h1>New checkout</h1>" in inside
    assert "<h1>Old checkout</h1>" in rest
    assert run.stdout.strip().endswith("/")
