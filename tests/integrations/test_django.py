"""Django integration against a real project: settings module, test client, templates, checks."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.integrations.django_settings"
django.setup()

# Django must be set up before these imports.
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.base import SystemCheckError  # noqa: E402
from django.db import connection  # noqa: E402
from django.template import Context, Template, TemplateSyntaxError  # noqa: E402
from django.test import AsyncClient, Client, RequestFactory, override_settings  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    setup_test_environment,
    teardown_test_environment,
)

import flagkit  # noqa: E402
from flagkit.integrations.django import flags_of, get_flags  # noqa: E402
from flagkit.integrations.django.checks import check_flagkit  # noqa: E402
from flagkit.integrations.django.middleware import FlagkitMiddleware  # noqa: E402
from flagkit.testing import FlagOverrides, override_flags  # noqa: E402

from . import django_views  # noqa: E402
from .conftest import (  # noqa: E402
    ALL_ON_YAML,
    CLIENT_FLAGS_FOR_PRO,
    CLIENT_FLAGS_YAML,
    INSIDE_USER,
    OUTSIDE_USER,
    bootstrap_from_html,
    wait_for,
    write_flags,
)

CONTEXT = "tests.integrations.django_views.extra_context"
ANONYMOUS = {"authenticated": False, "staff": False, "superuser": False, "groups": []}


@pytest.fixture(scope="module", autouse=True)
def django_test_environment() -> Iterator[None]:
    setup_test_environment()
    # No `serialize` argument: Django 6.1 deprecates it (its default is fine for an empty DB).
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    User.objects.create_user("inside", id=INSIDE_USER)
    User.objects.create_user("outside", id=OUTSIDE_USER)
    yield
    connection.creation.destroy_test_db(old_name, verbosity=0)
    teardown_test_environment()


@pytest.fixture
def flagkit_settings(flag_file: Path) -> Iterator[Path]:
    """FLAGKIT pointing at a fresh copy of the rollout file (watched)."""
    with override_settings(FLAGKIT={"FILE": flag_file, "CONTEXT": CONTEXT}):
        yield flag_file


def client_for(user_id: int | None) -> Client:
    client = Client()
    if user_id is not None:
        client.force_login(User.objects.get(id=user_id))
    return client


def page(response: Any) -> str:
    assert response.status_code == 200
    return str(response.content.decode())


# --- pages for users inside and outside the rollout ----------------------------------------------


@pytest.mark.usefixtures("flagkit_settings")
def test_same_file_gives_each_user_the_expected_page() -> None:
    inside = page(client_for(INSIDE_USER).get("/checkout/"))
    outside = page(client_for(OUTSIDE_USER).get("/checkout/"))
    anonymous = page(Client().get("/checkout/"))
    assert inside.startswith("new checkout")
    assert "filter=on" in inside
    assert "dynamic on" in inside
    assert outside.startswith("old checkout")
    assert "filter=off" in outside
    assert "dynamic on" not in outside
    assert anonymous.startswith("old checkout")  # no user_id: the split serves the default


@pytest.mark.usefixtures("flagkit_settings")
def test_context_callable_adds_app_attributes() -> None:
    staff = page(Client().get("/checkout/", headers={"X-Plan": "staff"}))
    pro = page(Client().get("/checkout/", headers={"X-Plan": "pro"}))
    assert staff.startswith("new checkout")
    assert "color=green" in pro
    assert "value=#0f0" in pro
    assert "chosen=green" in pro
    assert "color=blue" in staff


@pytest.mark.usefixtures("flagkit_settings")
def test_default_request_context() -> None:
    data = client_for(INSIDE_USER).get("/whoami/", headers={"X-Plan": "pro"}, REMOTE_ADDR="10.1.2.3").json()
    assert data["context"] == {
        "path": "/whoami/",
        "method": "GET",
        "ip": "10.1.2.3",
        "user_id": str(INSIDE_USER),
        "username": "inside",
        "authenticated": True,
        "staff": False,
        "superuser": False,
        "groups": [],
        "plan": "pro",
    }
    assert data["same_client"] is True
    assert data["new_checkout"] is True


@pytest.mark.usefixtures("flagkit_settings")
def test_flags_of_a_request_without_the_middleware_is_the_integrations_client() -> None:
    request = RequestFactory().get("/")
    assert not hasattr(request, "flags")
    assert flags_of(request) is get_flags()


def test_user_context_can_be_turned_off(flag_file: Path) -> None:
    with override_settings(FLAGKIT={"FILE": flag_file, "USER_CONTEXT": False, "CONTEXT": CONTEXT}):
        data = client_for(INSIDE_USER).get("/whoami/", headers={"X-Plan": "free"}).json()
    assert data["context"] == {"plan": "free"}


def test_failing_context_callable_is_logged_not_raised(
    flag_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: Any) -> dict[str, Any]:
        raise RuntimeError("bug in the app's context callable")

    with override_settings(FLAGKIT={"FILE": flag_file, "CONTEXT": broken}):
        data = Client().get("/whoami/").json()
    assert data["context"] == {
        "path": "/whoami/",
        "method": "GET",
        "ip": "127.0.0.1",
        **ANONYMOUS,
    }
    assert "CONTEXT'] callable failed" in caplog.text


@pytest.mark.usefixtures("flagkit_settings")
def test_snapshot_pinned_for_the_request() -> None:
    data = client_for(INSIDE_USER).get("/pinned/").json()
    assert data == {"first": True, "second": True}


@pytest.mark.usefixtures("flagkit_settings")
def test_flag_required_404_and_redirect() -> None:
    assert client_for(INSIDE_USER).get("/beta/").content == b"beta page"
    assert client_for(OUTSIDE_USER).get("/beta/").status_code == 404
    response = client_for(OUTSIDE_USER).get("/beta-or-checkout/")
    assert response.status_code == 302
    assert response["Location"] == "/checkout/"
    assert client_for(INSIDE_USER).get("/beta-or-checkout/").content == b"beta page"


@pytest.mark.usefixtures("flagkit_settings")
def test_flag_required_on_async_view() -> None:
    async def main() -> tuple[int, int]:
        on = await AsyncClient().get("/async-beta/", headers={"X-Plan": "staff"})
        off = await AsyncClient().get("/async-beta/", headers={"X-Plan": "free"})
        return on.status_code, off.status_code

    assert asyncio.run(main()) == (200, 404)


# --- isolation between concurrent requests ---------------------------------------------------------


@pytest.mark.usefixtures("flagkit_settings")
def test_context_does_not_leak_between_concurrent_threads() -> None:
    count = 8
    django_views.BARRIER = threading.Barrier(count)
    results: dict[int, dict[str, Any]] = {}

    def request(i: int) -> None:
        plan = "staff" if i % 2 else "free"
        response = Client().get("/whoami/", headers={"X-Plan": plan, "X-Request-Id": str(i)})
        results[i] = response.json()

    try:
        threads = [threading.Thread(target=request, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        django_views.BARRIER = None
    assert len(results) == count
    for i, data in results.items():
        assert data["context"]["request_id"] == str(i)
        assert data["context"]["plan"] == ("staff" if i % 2 else "free")
        assert data["new_checkout"] is bool(i % 2)


@pytest.mark.usefixtures("flagkit_settings")
def test_context_does_not_leak_between_concurrent_async_requests() -> None:
    async def main() -> list[Any]:
        client = AsyncClient()
        return await asyncio.gather(
            *(
                client.get(
                    "/async-whoami/", headers={"X-Plan": "staff" if i % 2 else "free", "X-Request-Id": str(i)}
                )
                for i in range(10)
            )
        )

    responses = asyncio.run(main())
    for i, response in enumerate(responses):
        data = json.loads(response.content)
        assert data["before"] == data["context"]
        assert data["context"]["request_id"] == str(i)
        assert data["new_checkout"] is bool(i % 2)
    assert flagkit.current_context() == {}


# --- changes without restarting ----------------------------------------------------------------------


@pytest.mark.slow
def test_editing_the_flag_file_changes_the_next_response(flagkit_settings: Path) -> None:
    client = client_for(OUTSIDE_USER)
    assert page(client.get("/checkout/")).startswith("old checkout")
    write_flags(flagkit_settings, ALL_ON_YAML)
    assert wait_for(lambda: page(client.get("/checkout/")).startswith("new checkout"))
    assert "color=green" in page(client.get("/checkout/"))


@pytest.mark.usefixtures("flagkit_settings")
def test_override_flags_reaches_the_app() -> None:
    with override_flags(new_checkout=True):  # the default client, which the integration installed
        assert page(client_for(OUTSIDE_USER).get("/checkout/")).startswith("new checkout")
    assert page(client_for(OUTSIDE_USER).get("/checkout/")).startswith("old checkout")


@pytest.mark.usefixtures("flagkit_settings")
def test_flagkit_overrides_fixture_reaches_the_app(flagkit_overrides: FlagOverrides) -> None:
    flagkit_overrides.set("new_checkout", False)
    assert client_for(INSIDE_USER).get("/beta/").status_code == 404


def test_without_a_source_the_default_client_is_used() -> None:
    with override_settings(FLAGKIT={}):
        mine = flagkit.Flags.from_dict({"new_checkout": True})
        flagkit.configure(flags=mine)
        assert get_flags() is mine
        assert page(Client().get("/checkout/")).startswith("new checkout")


# --- templates ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("flagkit_settings")
def test_flag_tag_without_else_and_syntax_errors() -> None:
    with flagkit.context(plan="staff"):
        assert (
            Template('{% load flagkit %}{% flag "new_checkout" %}on{% endflag %}').render(Context()) == "on"
        )
    assert Template('{% load flagkit %}{% flag "new_checkout" %}on{% endflag %}').render(Context()) == ""
    with pytest.raises(TemplateSyntaxError, match="exactly one argument"):
        Template("{% load flagkit %}{% flag %}x{% endflag %}")
    with pytest.raises(TemplateSyntaxError):
        Template('{% load flagkit %}{% flag "x" %}never closed')


# --- settings and system checks ---------------------------------------------------------------------------


def test_check_passes_for_a_valid_file(flag_file: Path) -> None:
    with override_settings(FLAGKIT={"FILE": flag_file}):
        assert check_flagkit() == []
        call_command("check", verbosity=0)


def test_check_reports_an_invalid_flag_file(tmp_path: Path) -> None:
    bad = tmp_path / "features.yaml"
    bad.write_text("features:\n  ok: true\n  broken:\n    variants: {a: 1}\n    default: nope\n")
    with override_settings(FLAGKIT={"FILE": bad}):
        messages = check_flagkit()
        assert [m.id for m in messages] == ["flagkit.E002"]
        assert f"{bad}:" in messages[0].msg
        assert "broken" in messages[0].msg
        with pytest.raises(SystemCheckError, match=r"flagkit\.E002"):
            call_command("check")
        # the site still runs: the bad file serves no flags instead of crashing start-up
        assert page(Client().get("/checkout/")).startswith("old checkout")


def test_check_reports_a_missing_file(tmp_path: Path) -> None:
    with override_settings(FLAGKIT={"FILE": tmp_path / "missing.yaml", "WATCH": False}):
        assert [m.id for m in check_flagkit()] == ["flagkit.E003"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"FIEL": "x.yaml"}, "unknown key"),
        ({"STRICT": "yes"}, "must be True or False"),
        ({"PROVIDERS": "flagkit.DictProvider"}, "must be a list"),
        ({"PROVIDERS": ["no.such.module.provider"]}, "cannot import"),
        ({"PROVIDERS": [42]}, "must be a flagkit Provider"),
        ({"CONTEXT": 42}, "must be callable"),
        ({"FILE": 42}, "must be a path"),
        ("not a dict", "must be a dict"),
    ],
)
def test_check_reports_invalid_settings(setting: Any, message: str) -> None:
    with override_settings(FLAGKIT=setting):
        messages = check_flagkit()
    assert [m.id for m in messages] == ["flagkit.E001"]
    assert message in messages[0].msg


def test_providers_setting_and_strict(flag_file: Path) -> None:
    first = flagkit.DictProvider({"new_checkout": True}, name="first")
    with override_settings(FLAGKIT={"PROVIDERS": [first], "FILE": flag_file, "STRICT": True}):
        flags = get_flags()
        assert flags.providers[0] is first
        assert flags.is_enabled("new_checkout")  # PROVIDERS win over FILE
        assert flags.get_value("button_color", "") == "#00f"  # FILE still supplies the rest
        with pytest.raises(flagkit.FlagNotFoundError):
            flags.is_enabled("missing")
        assert check_flagkit() == []


def test_check_warns_when_middleware_missing(flag_file: Path) -> None:
    with override_settings(FLAGKIT={"FILE": flag_file}, MIDDLEWARE=[]):
        assert [m.id for m in check_flagkit()] == ["flagkit.W001"]


SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
FLAGKIT_MW = "flagkit.integrations.django.middleware.FlagkitMiddleware"


class ProjectFlagkitMiddleware(FlagkitMiddleware):
    """A project's own subclass: the order check must recognise it."""


@pytest.mark.parametrize(
    "flagkit_path", [FLAGKIT_MW, "tests.integrations.test_django.ProjectFlagkitMiddleware"]
)
def test_check_refuses_flagkit_middleware_before_authentication(
    flag_file: Path, flagkit_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 16: this order passed `manage.py check`, then every request lost the user."""
    wrong = [SESSIONS, flagkit_path, AUTH]
    with override_settings(FLAGKIT={"FILE": flag_file, "CONTEXT": CONTEXT}, MIDDLEWARE=wrong):
        messages = check_flagkit()
        assert [m.id for m in messages] == ["flagkit.E005"]
        assert "after 'django.contrib.auth.middleware.AuthenticationMiddleware'" in (messages[0].hint or "")
        with pytest.raises(SystemCheckError, match=r"flagkit\.E005"):
            call_command("check")
    with override_settings(FLAGKIT={"FILE": flag_file}, MIDDLEWARE=[SESSIONS, AUTH, flagkit_path]):
        assert check_flagkit() == []


def test_relative_file_is_resolved_against_base_dir_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    write_flags(project / "config" / "features.yaml", ALL_ON_YAML)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with override_settings(BASE_DIR=project, FLAGKIT={"FILE": "config/features.yaml", "WATCH": False}):
        assert get_flags().wait_ready(30)
        assert get_flags().is_enabled("new_checkout")
        assert check_flagkit() == []


def test_file_required_fails_at_start_instead_of_serving_defaults(tmp_path: Path) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from flagkit.integrations.django.flags import reset

    missing = {"FILE": tmp_path / "missing.yaml", "FILE_REQUIRED": True, "WATCH": False}
    try:
        with override_settings(FLAGKIT=missing), pytest.raises(ImproperlyConfigured, match="FILE_REQUIRED"):
            get_flags()
    finally:
        reset()
    write_flags(tmp_path / "present.yaml", ALL_ON_YAML)
    present = {"FILE": tmp_path / "present.yaml", "FILE_REQUIRED": True, "WATCH": False}
    with override_settings(FLAGKIT=present):
        assert get_flags().wait_ready(30)


def test_flagkit_bootstrap_tag_emits_the_client_flags_for_the_request(tmp_path: Path) -> None:
    path = tmp_path / "client.yaml"
    write_flags(path, CLIENT_FLAGS_YAML)
    with override_settings(FLAGKIT={"FILE": path, "CONTEXT": CONTEXT}):
        page = Client().get("/bootstrap/", headers={"X-Plan": "pro"}).content.decode()
        assert bootstrap_from_html(page) == CLIENT_FLAGS_FOR_PRO
        assert "backend_only" not in page
        anonymous = bootstrap_from_html(Client().get("/bootstrap/").content.decode())
        assert anonymous["new_ui"] == {"value": False, "variant": "off"}


# --- the waffle-style default context (issue 18) -----------------------------------------------------

WAFFLE_YAML = """\
segments:
  staff:
    staff: true
features:
  staff_first:
    rules:
      - when: {segment: staff}
        serve: on
  beta_group:
    rules:
      - when: {groups: {contains: beta}}
        serve: on
  named_users:
    rules:
      - when: {username: [alice, bob]}
        serve: on
  admins:
    rules:
      - when: {superuser: true}
        serve: on
  members:
    rules:
      - when: {authenticated: true}
        serve: on
"""


@pytest.fixture
def waffle_users() -> Iterator[dict[str, Client]]:
    from django.contrib.auth.models import Group

    beta = Group.objects.create(name="beta")
    made = [
        User.objects.create_user("alice"),
        User.objects.create_user("staffer", is_staff=True),
        User.objects.create_user("root", is_staff=True, is_superuser=True),
        User.objects.create_user("tester"),
    ]
    made[3].groups.add(beta)
    clients = {}
    for user in made:
        clients[user.username] = Client()
        clients[user.username].force_login(user)
    clients["anonymous"] = Client()
    yield clients
    for user in made:
        user.delete()
    beta.delete()


@pytest.fixture
def waffle_flags(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "waffle.yaml"
    write_flags(path, WAFFLE_YAML)
    with override_settings(FLAGKIT={"FILE": path, "WATCH": False}):
        assert get_flags().wait_ready(30)
        yield path


EXPECTED = {
    "staff_first": {"staffer", "root"},
    "beta_group": {"tester"},
    "named_users": {"alice"},
    "admins": {"root"},
    "members": {"alice", "staffer", "root", "tester"},
}


@pytest.mark.usefixtures("waffle_flags")
@pytest.mark.parametrize("prefix", ["flag", "async-flag"])
def test_default_context_targets_staff_groups_users_and_superusers(
    waffle_users: dict[str, Client], prefix: str
) -> None:
    for key, who in EXPECTED.items():
        served = {
            name for name, client in waffle_users.items() if client.get(f"/{prefix}/{key}/").json()[key]
        }
        assert served == who, key


def group_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "auth_group" in q["sql"]]


@pytest.mark.usefixtures("waffle_flags")
def test_groups_are_queried_only_when_a_flag_reads_them(waffle_users: dict[str, Client]) -> None:
    tester = waffle_users["tester"]
    for key in ("staff_first", "named_users", "admins", "members"):
        with CaptureQueriesContext(connection) as captured:
            assert tester.get(f"/flag/{key}/").status_code == 200
        assert captured.captured_queries  # the session's user was loaded: counting works
        assert group_queries(captured) == [], key
    with CaptureQueriesContext(connection) as captured:
        assert tester.get("/flag/beta_group/").json() == {"beta_group": True}
    assert len(group_queries(captured)) == 1


def test_lazy_groups_load_once_and_behave_as_a_list() -> None:
    from django.contrib.auth.models import Group

    from flagkit.integrations.django.lazy import LazyGroups

    user = User.objects.create_user("lazy")
    try:
        user.groups.add(Group.objects.create(name="g1"))
        groups = LazyGroups(user)
        assert not groups.loaded
        assert repr(groups) == "LazyGroups(<not loaded>)"
        with CaptureQueriesContext(connection) as captured:
            assert "g1" in groups
            assert list(groups) == ["g1"]
            assert groups == ["g1"]
            assert len(groups) == 1
            assert groups[0] == "g1"
        assert len(captured.captured_queries) == 1
        assert isinstance(groups, list)
    finally:
        Group.objects.filter(name="g1").delete()
        user.delete()


def test_anonymous_id_is_opt_in_and_replaces_a_forged_cookie(flag_file: Path) -> None:
    with override_settings(FLAGKIT={"FILE": flag_file}):
        off = Client().get("/whoami/")
        assert "flagkit_anon" not in off.cookies
        assert "anonymous_id" not in off.json()["context"]
    with override_settings(FLAGKIT={"FILE": flag_file, "ANONYMOUS_ID": True, "ANONYMOUS_MAX_AGE": 60}):
        client = Client()
        client.cookies["flagkit_anon"] = "x" * 200
        answer = client.get("/whoami/", secure=True)
        morsel = answer.cookies["flagkit_anon"]
        assert morsel.value != "x" * 200
        assert answer.json()["context"]["targeting_key"] == morsel.value
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "Lax"
        assert morsel["secure"] is True
        assert morsel["max-age"] == 60


@pytest.mark.parametrize(
    ("setting", "message"),
    [({"ANONYMOUS_ID": "yes"}, "True or False"), ({"ANONYMOUS_MAX_AGE": 0}, "positive"),
     ({"ANONYMOUS_COOKIE": ""}, "cookie name")],
)  # fmt: skip
def test_anonymous_settings_are_checked(setting: dict[str, Any], message: str) -> None:
    with override_settings(FLAGKIT=setting):
        messages = check_flagkit()
    assert [m.id for m in messages] == ["flagkit.E001"]
    assert message in messages[0].msg


# --- QA overrides in the browser (issue 18) ------------------------------------------------------


@pytest.fixture
def qa_users() -> Iterator[dict[str, User]]:
    users = {
        "tester": User.objects.create_user("qa-tester", is_staff=True),
        "visitor": User.objects.create_user("qa-visitor"),
    }
    yield users
    for user in users.values():
        user.delete()


def qa_settings(flag_file: Path, permission: str) -> Any:
    return override_settings(
        FLAGKIT={
            "FILE": flag_file,
            "WATCH": False,
            "QA_PERMISSION": f"tests.integrations.django_views.{permission}",
        }
    )


@pytest.mark.parametrize("permission", ["staff_only", "async_staff_only"])
@pytest.mark.parametrize("prefix", ["reason", "async-reason"])
def test_qa_override_forces_a_variant_for_the_tester_only(
    flag_file: Path, qa_users: dict[str, User], permission: str, prefix: str
) -> None:
    with qa_settings(flag_file, permission):
        assert get_flags().wait_ready(30)
        tester, visitor = Client(), Client()
        tester.force_login(qa_users["tester"])
        visitor.force_login(qa_users["visitor"])
        url = f"/{prefix}/button_color/"
        assert tester.get(url).json()["variant"] == "blue"

        forced = tester.get(url, {"flagkit_qa": "button_color:green,new_checkout:on"})
        assert forced.json() == {"value": "#0f0", "variant": "green", "reason": "QA_OVERRIDE"}
        cookie = forced.cookies["flagkit_qa"]
        assert cookie.value == "button_color:green,new_checkout:on"
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert tester.get(url).json()["reason"] == "QA_OVERRIDE"  # kept by the cookie
        assert tester.get(f"/{prefix}/new_checkout/").json()["value"] is True

        # A user the permission does not grant: neither the parameter nor a copied cookie works.
        assert visitor.get(url, {"flagkit_qa": "button_color:green"}).json()["variant"] == "blue"
        visitor.cookies["flagkit_qa"] = cookie.value
        assert visitor.get(url).json() == {"value": "#00f", "variant": "blue", "reason": "DEFAULT"}
        # Anyone else at the same time still gets the file's answer.
        assert Client().get(url).json()["variant"] == "blue"

        assert tester.get(url, {"flagkit_qa": "button_color:"}).json()["variant"] == "blue"
        assert tester.get(f"/{prefix}/new_checkout/").json()["reason"] == "QA_OVERRIDE"
        cleared = tester.get(url, {"flagkit_qa": ""})
        assert cleared.cookies["flagkit_qa"]["max-age"] == 0  # deleted
        assert tester.get(f"/{prefix}/new_checkout/").json()["reason"] != "QA_OVERRIDE"
        # An unknown variant or flag is ignored, not an error.
        assert tester.get(url, {"flagkit_qa": "button_color:purple,nope:on"}).json()["variant"] == "blue"


@pytest.mark.parametrize("prefix", ["reason", "async-reason"])
def test_an_async_permission_that_refuses_is_awaited_not_taken_as_truthy(
    flag_file: Path, qa_users: dict[str, User], prefix: str
) -> None:
    with qa_settings(flag_file, "async_never"):
        tester = Client()
        tester.force_login(qa_users["tester"])
        answer = tester.get(f"/{prefix}/button_color/", {"flagkit_qa": "button_color:green"})
        assert answer.json()["variant"] == "blue"
        assert "flagkit_qa" not in answer.cookies


def test_qa_overrides_are_off_without_a_permission(flag_file: Path, qa_users: dict[str, User]) -> None:
    with override_settings(FLAGKIT={"FILE": flag_file, "WATCH": False}):
        tester = Client()
        tester.force_login(qa_users["tester"])
        answer = tester.get("/reason/button_color/", {"flagkit_qa": "button_color:green"})
        assert answer.json()["variant"] == "blue"
        assert "flagkit_qa" not in answer.cookies


@pytest.mark.parametrize("permission", ["async_never", "async_staff_only", "staff_only"])
def test_qa_permission_under_the_async_middleware(
    flag_file: Path, qa_users: dict[str, User], permission: str
) -> None:
    """AsyncClient runs the ASGI handler: the middleware's async path awaits an async
    permission and runs a sync one in a thread; only a real True grants."""

    async def main() -> tuple[Any, Any]:
        tester = AsyncClient()
        await tester.aforce_login(qa_users["tester"])
        answer = await tester.get("/async-reason/button_color/", {"flagkit_qa": "button_color:green"})
        again = await tester.get("/async-reason/button_color/")
        return answer.json(), again.json()

    with qa_settings(flag_file, permission):
        first, again = asyncio.run(main())
    granted = permission != "async_never"
    assert first["variant"] == ("green" if granted else "blue")
    assert again["reason"] == ("QA_OVERRIDE" if granted else "DEFAULT")


# --- usage, exposures and hooks from settings.FLAGKIT (issue 18) ---------------------------------------


def test_usage_exposures_and_hooks_from_settings(flag_file: Path, tmp_path: Path) -> None:
    django_views.RecordingHook.seen.clear()
    django_views.EXPOSED.clear()
    settings_value = {
        "FILE": flag_file,
        "WATCH": False,
        "USAGE": True,
        "USAGE_EXPORT": str(tmp_path / "usage-{pid}.json"),
        "HOOKS": ["tests.integrations.django_views.RecordingHook"],
        "EXPOSURES": ["tests.integrations.django_views.record_exposure"],
        "TRACK_ALL": True,
    }
    with override_settings(FLAGKIT=settings_value):
        assert get_flags().wait_ready(30)
        for _ in range(3):
            assert client_for(INSIDE_USER).get("/flag/new_checkout/").json() == {"new_checkout": True}
        flags = get_flags()
        assert flags.usage()["flags"]["new_checkout"]["evaluations"] == 3  # type: ignore[index]
        assert django_views.RecordingHook.seen == ["new_checkout"] * 3
        assert flags.flush_exposures(30)
        assert [(e.key, e.variant) for e in django_views.EXPOSED] == [("new_checkout", "on")]  # deduplicated
        from flagkit.integrations.django.flags import usage_export

        exporter = usage_export()
        assert exporter is not None
        exporter.export()
        assert json.loads(Path(exporter.target()).read_text())["flags"]["new_checkout"]["evaluations"] == 3


@pytest.mark.parametrize(
    ("setting", "message"),
    [({"USAGE_EXPORT": "u.json"}, "needs FLAGKIT['USAGE']"), ({"HOOKS": [42]}, "must be a hook"),
     ({"EXPOSURES": ["no.such.callback"]}, "cannot import"), ({"USAGE_EXPORT_INTERVAL": 0}, "positive")],
)  # fmt: skip
def test_observation_settings_are_checked(setting: dict[str, Any], message: str) -> None:
    with override_settings(FLAGKIT=setting):
        messages = check_flagkit()
    assert [m.id for m in messages] == ["flagkit.E001"]
    assert message in messages[0].msg


def _alive_export_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "flagkit-usage-export" and t.is_alive()}


def _wait_for(condition: Any, seconds: float = 30.0) -> bool:
    import gc
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        gc.collect()
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.slow
def test_usage_export_thread_ends_when_the_client_is_closed(flag_file: Path, tmp_path: Path) -> None:
    """The exporting thread works for the client (issue 19): closing the client ends it."""
    before = _alive_export_threads()
    settings_value = {
        "FILE": flag_file,
        "WATCH": False,
        "USAGE": True,
        "USAGE_EXPORT": str(tmp_path / "usage-{pid}.json"),
        "USAGE_EXPORT_INTERVAL": 0.05,
    }
    with override_settings(FLAGKIT=settings_value):
        assert get_flags().wait_ready(30)
        assert client_for(INSIDE_USER).get("/flag/new_checkout/").json() == {"new_checkout": True}
        started = _alive_export_threads() - before
        assert len(started) == 1
        assert _wait_for((tmp_path / f"usage-{os.getpid()}.json").exists)
        get_flags().close()
        assert _wait_for(lambda: not any(t.is_alive() for t in started))


@pytest.mark.slow
def test_a_replaced_client_with_usage_export_is_collected(flag_file: Path, tmp_path: Path) -> None:
    """A client built from settings and then replaced (``override_settings`` ends) is
    collected: neither the exporting thread nor its exit handler keeps it (issue 19)."""
    import weakref

    settings_value = {
        "FILE": flag_file,
        "WATCH": False,
        "USAGE": True,
        "USAGE_EXPORT": str(tmp_path / "usage-{pid}.json"),
        "USAGE_EXPORT_INTERVAL": 0.05,
    }
    with override_settings(FLAGKIT=settings_value):
        assert get_flags().wait_ready(30)
        assert client_for(INSIDE_USER).get("/flag/new_checkout/").json() == {"new_checkout": True}
        client = weakref.ref(get_flags())
    from flagkit._default import _reset

    _reset()  # the module-level default client was this one (get_flags() installs it)
    assert _wait_for(lambda: client() is None)
