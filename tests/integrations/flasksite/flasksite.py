"""A Flask app whose flag file path is relative, as docs/integrations.md shows it; the tests
run it under real gunicorn from another working directory."""

import os

from flask import Flask, jsonify
from werkzeug.wrappers import Response

import flagkit
from flagkit.integrations.flask import FlagKit, get_flags

app = Flask(__name__)
app.config["FLAGKIT_FILE"] = "config/features.yaml"  # relative to app.root_path
app.config["FLAGKIT_FILE_REQUIRED"] = os.environ.get("FLASKSITE_FILE_REQUIRED") == "1"
app.config["FLAGKIT_ANONYMOUS_ID"] = os.environ.get("FLASKSITE_ANONYMOUS_ID") == "1"
FlagKit(app)


@app.get("/")
def index() -> Response:
    return jsonify({"new_checkout": get_flags().is_enabled("new_checkout")})


@app.get("/flag/<key>")
def flag_on(key: str) -> Response:
    return jsonify({key: get_flags().is_enabled(key), "context": dict(flagkit.current_context())})
