"""Settings of a real Django project, laid out as `django-admin startproject` makes one.

The tests run it under real gunicorn (WSGI) and uvicorn (ASGI) from another working
directory, with a sqlite database file named by ``REALSITE_DB``.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "realsite-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "realsite.urls"
WSGI_APPLICATION = "realsite.wsgi.application"
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "flagkit.integrations.django",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "flagkit.integrations.django.middleware.FlagkitMiddleware",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("REALSITE_DB", str(BASE_DIR / "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "realsite" / "templates"],
    }
]

LOGIN_REDIRECT_URL = "/whoami/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"flagkit": {"handlers": ["console"], "level": "INFO"}},
}

# Relative: resolved against BASE_DIR, whatever directory the server starts in.
FLAGKIT = {
    "FILE": os.environ.get("REALSITE_FLAGS", "config/features.yaml"),
    "FILE_REQUIRED": os.environ.get("REALSITE_FILE_REQUIRED") == "1",
    "CONTEXT": "realsite.views.flag_context",
    "ANONYMOUS_ID": os.environ.get("REALSITE_ANONYMOUS_ID") == "1",
}
if os.environ.get("REALSITE_USAGE_EXPORT"):  # e.g. /tmp/x/usage-{pid}.json: one file per worker
    FLAGKIT.update(
        USAGE=True,
        USAGE_EXPORT=os.environ["REALSITE_USAGE_EXPORT"],
        USAGE_EXPORT_INTERVAL=float(os.environ.get("REALSITE_USAGE_INTERVAL", "1")),
    )
