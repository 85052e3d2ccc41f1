"""Settings of the flagkit Django example (no database needed)."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "flagkit-example-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "shop.urls"
USE_TZ = True

INSTALLED_APPS = ["flagkit.integrations.django"]
MIDDLEWARE = ["flagkit.integrations.django.middleware.FlagkitMiddleware"]
DATABASES: dict[str, dict[str, str]] = {}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "shop" / "templates"],
    }
]

FLAGKIT = {
    "FILE": BASE_DIR / "features.yaml",
    # A real project reads request.user (added automatically when authenticated) or a
    # session; the example takes ?user= and ?plan= from the query string.
    "CONTEXT": "shop.views.query_context",
}
