"""Django settings for tests/integrations/test_django.py (a real, minimal project)."""

from pathlib import Path

SECRET_KEY = "flagkit-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]
ROOT_URLCONF = "tests.integrations.django_views"
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "flagkit.integrations.django",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "flagkit.integrations.django.middleware.FlagkitMiddleware",
]

SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).resolve().parent / "templates"],
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# The tests point FILE at a temporary flag file with override_settings.
FLAGKIT = {"CONTEXT": "tests.integrations.django_views.extra_context"}
