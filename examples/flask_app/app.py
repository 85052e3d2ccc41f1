"""A Flask app whose checkout page switches on a flag from ``features.yaml``.

Run it with ``.venv/bin/flask --app examples/flask_app/app run`` (see README.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, render_template_string, request

from flagkit.integrations.flask import FlagKit, flag_required

HERE = Path(__file__).resolve().parent

PAGE = """\
<!doctype html>
<title>flagkit Flask example</title>
{% if flag_enabled("new_checkout") %}
  <h1>New checkout</h1>
{% else %}
  <h1>Old checkout</h1>
{% endif %}
<button style="background: {{ flag_value('button_color', '#1f6feb') }}">
  Pay ({{ flag_variant("button_color") }})
</button>
<p><a href="/beta">The beta page</a> is only there for users in the rollout.</p>
"""


def user_context() -> dict[str, Any]:
    """Who is asking: here from the query string; a real app reads its session or token."""
    ctx: dict[str, Any] = {}
    if user := request.args.get("user"):
        ctx["user_id"] = user
    if plan := request.args.get("plan"):
        ctx["plan"] = plan
    return ctx


def create_app() -> Flask:
    """The app factory (``flask --app`` finds it)."""
    app = Flask(__name__)
    app.config["FLAGKIT_FILE"] = str(HERE / "features.yaml")
    FlagKit(app, context_getter=user_context)

    @app.route("/")
    def checkout() -> str:
        return render_template_string(PAGE)

    @app.route("/beta")
    @flag_required("new_checkout", redirect_to="checkout")
    def beta() -> str:
        return "Welcome to the beta."

    return app


if __name__ == "__main__":
    create_app().run()
