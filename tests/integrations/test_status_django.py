"""The status page mounted in the real Django test project (staff only, per the documented example)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.integrations.django_settings"
django.setup()

# Django must be set up before these imports.
from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

from flagkit.integrations.status import HEADERS  # noqa: E402

from .django_views import extra_context  # noqa: E402


@pytest.fixture(scope="module")
def users() -> Iterator[dict[str, User]]:
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    made = {
        "staff": User.objects.create_user("ops", is_staff=True),
        "customer": User.objects.create_user("customer"),
    }
    yield made
    connection.creation.destroy_test_db(old_name, verbosity=0)
    teardown_test_environment()


@pytest.fixture
def example_settings(example_file: Path) -> Iterator[None]:
    context = f"{extra_context.__module__}.{extra_context.__name__}"
    with override_settings(FLAGKIT={"FILE": example_file, "WATCH": False, "CONTEXT": context}):
        yield


def logged_in(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.usefixtures("example_settings")
def test_staff_only(users: dict[str, User]) -> None:
    for who in (None, users["customer"]):
        response = logged_in(who).get("/ops/flags/")
        assert response.status_code == 403
        assert b"new_search" not in response.content
    staff = logged_in(users["staff"])
    page = staff.get("/ops/flags/", {"user": "u-007", "flag": "new_search"})
    assert page.status_code == 200
    assert page["Content-Security-Policy"] == HEADERS["Content-Security-Policy"]
    assert 'data-flag="new_search"' in page.content.decode()
    data = staff.get("/ops/flags/status.json", {"user": "ana", "attrs": "email=ana@example.com"}).json()
    answers = {r["key"]: r for r in data["query"]["results"]}
    assert (answers["new_search"]["rule"], answers["new_search"]["value"]) == ("staff first", True)
    assert data["providers"][0]["state"] == "ready"
    assert staff.post("/ops/flags/").status_code == 405  # read-only: GET and HEAD only


@pytest.mark.usefixtures("example_settings")
def test_an_async_check_is_awaited(users: dict[str, User]) -> None:
    # The views called an async check, got a coroutine object (truthy) and served the page and
    # status.json to anyone.
    import warnings

    from django.test import RequestFactory

    from flagkit.integrations.status.django import view

    async def is_staff(request: Any) -> bool:
        return bool(request.user.is_staff)

    status_view = view(check=is_staff)
    factory = RequestFactory()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        for who, expected in ((users["customer"], 403), (users["staff"], 200)):
            for page in ("", "status.json"):
                request = factory.get(f"/ops/flags/{page}")
                request.user = who
                assert status_view(request, page=page).status_code == expected


def test_a_testers_qa_override_shows_as_its_own_reason(users: dict[str, User], example_file: Path) -> None:
    permission = "tests.integrations.django_views.staff_only"
    with override_settings(FLAGKIT={"FILE": example_file, "WATCH": False, "QA_PERMISSION": permission}):
        staff = logged_in(users["staff"])
        data = staff.get("/ops/flags/status.json", {"user": "u-007", "flagkit_qa": "new_search:off"}).json()
        answers = {r["key"]: r for r in data["query"]["results"]}
        assert answers["new_search"]["reason"] == "QA_OVERRIDE"
        assert answers["new_search"]["variant"] == "off"
        assert "QA override" in answers["new_search"]["trace"][0]
        page = staff.get("/ops/flags/", {"user": "u-007", "flag": "new_search"}).content.decode()
        assert "QA_OVERRIDE" in page  # the cookie set above keeps it for this browser
        # Anyone else's page shows the file's answer.
        other = User.objects.create_user("ops2", is_staff=True)
        try:
            fresh = logged_in(other).get("/ops/flags/status.json", {"user": "u-007"}).json()
        finally:
            other.delete()
        assert {r["key"]: r for r in fresh["query"]["results"]}["new_search"]["reason"] != "QA_OVERRIDE"
