"""The status page in a real headless Chromium, served by real servers on 127.0.0.1 (uvicorn and
werkzeug): load it, ask what a user gets, read the answer; a denied user gets 403."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from starlette.applications import Starlette
from starlette.routing import Mount

from flagkit import Flags
from flagkit.integrations.status.asgi import Scope, StatusApp
from flagkit.integrations.status.flask import blueprint

from ..helpers.web import chromium, serve_asgi, serve_wsgi

pytestmark = pytest.mark.slow

ROLE_COOKIE = "role=staff"


def staff_cookie_scope(scope: Scope) -> bool:
    cookies = b"; ".join(value for name, value in scope.get("headers", []) if name == b"cookie")
    return ROLE_COOKIE.encode() in cookies.split(b"; ")


def staff_cookie_request(request: Any) -> bool:
    return bool(request.cookies.get("role") == "staff")


@pytest.fixture(scope="module")
def chromium_driver() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


@pytest.fixture
def browser(chromium_driver: Any) -> Iterator[Any]:
    """The module's browser, without the cookies an earlier test left (the tests run in any
    order; cookies are per host, and every server here is on 127.0.0.1)."""
    yield chromium_driver
    chromium_driver.delete_all_cookies()  # still on this test's 127.0.0.1 page


@pytest.fixture
def flags(example_file: Path) -> Iterator[Flags]:
    with Flags.from_file(example_file, watch=False) as client:
        yield client


def status_code(url: str, cookie: str | None = None) -> int:
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def ask(browser: Any, user: str, attributes: str, flag: str) -> dict[str, str]:
    """Fill the form as a person would, submit it and read the answer row."""
    field = browser.find_element(By.ID, "query-user")
    field.clear()
    field.send_keys(user)
    attrs = browser.find_element(By.ID, "query-attrs")
    attrs.clear()
    attrs.send_keys(attributes)
    Select(browser.find_element(By.ID, "query-flag")).select_by_value(flag)
    browser.find_element(By.ID, "query-submit").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-flag="{flag}"]'))
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-flag="{flag}"]')
    row.find_element(By.TAG_NAME, "summary").click()  # open the trace
    WebDriverWait(browser, 30).until(lambda d: row.find_element(By.TAG_NAME, "pre").is_displayed())
    cell = {
        name: row.find_element(By.CLASS_NAME, name).text for name in ("value", "variant", "reason", "rule")
    }
    cell["trace"] = row.find_element(By.TAG_NAME, "pre").text
    return cell


def test_asgi_page_in_chromium(browser: Any, flags: Flags) -> None:
    app = Starlette(routes=[Mount("/ops/flags", app=StatusApp(flags, check=staff_cookie_scope))])
    with serve_asgi(app) as base:
        url = f"{base}/ops/flags/"
        assert status_code(url) == 403
        assert status_code(url, ROLE_COOKIE) == 200

        browser.get(url)  # no cookie yet: denied
        assert browser.find_element(By.TAG_NAME, "body").text.strip() == "403 Forbidden"
        assert "new_search" not in browser.page_source

        browser.add_cookie({"name": "role", "value": "staff", "path": "/"})
        browser.get(url)
        assert browser.title == "flagkit status"
        provider = browser.find_element(By.CSS_SELECTOR, "#providers .state")
        assert provider.text == "ready"
        assert browser.find_element(By.ID, "flag-new_search").text.count("Rule ") == 3

        answer = ask(browser, "u-999", "country=US\npremium=true", "new_search")
        assert answer == {
            **answer,
            "value": "true",
            "variant": "on",
            "reason": "TARGETING_MATCH",
            "rule": "premium US",
        }
        assert "rules[1] 'premium US': matched → serve on" in answer["trace"]
        assert (
            browser.find_element(By.ID, "query-user").get_attribute("value") == "u-999"
        )  # the form keeps it

        expected = flags.evaluate("new_recommendation_engine", None, {"user_id": "u-5", "account_id": "acme"})
        answer = ask(browser, "u-5", "account_id=acme", "new_recommendation_engine")
        assert (answer["variant"], answer["reason"], answer["rule"]) == (
            expected.variant,
            str(expected.reason),
            expected.rule,
        )
        assert "split on account_id" in answer["trace"]

        browser.delete_all_cookies()
        browser.get(f"{url}status.json")
        assert "403 Forbidden" in browser.page_source


def test_flask_page_in_chromium(browser: Any, flags: Flags) -> None:
    app = Flask(__name__)
    app.register_blueprint(blueprint(flags, check=staff_cookie_request), url_prefix="/flags")
    with serve_wsgi(app) as base:
        browser.delete_all_cookies()
        browser.get(f"{base}/flags/")
        assert browser.find_element(By.TAG_NAME, "body").text.strip() == "403 Forbidden"
        browser.add_cookie({"name": "role", "value": "staff", "path": "/"})
        browser.get(f"{base}/flags/")
        answer = ask(browser, "tara", "email=tara@example.com", "new_search")
        assert (answer["value"], answer["variant"], answer["rule"]) == ("true", "on", "staff first")
        assert "✓ segment staff" in answer["trace"]
        browser.find_element(By.LINK_TEXT, "JSON").click()
        WebDriverWait(browser, 30).until(lambda d: d.current_url.endswith("/flags/status.json"))
        assert '"providers"' in browser.find_element(By.TAG_NAME, "body").text
