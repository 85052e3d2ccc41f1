"""URLconf and views of the Django test project."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import include, path

import flagkit
from flagkit.integrations.django import flags_of
from flagkit.integrations.django.decorators import flag_required
from flagkit.integrations.status.django import urls as flag_status_urls

BARRIER: threading.Barrier | None = None
"""Set by the concurrency test so that every request is in flight at once."""


def extra_context(request: HttpRequest) -> dict[str, Any]:
    """FLAGKIT["CONTEXT"]: the app's own attributes (here from headers)."""
    ctx: dict[str, Any] = {}
    if "X-Plan" in request.headers:
        ctx["plan"] = request.headers["X-Plan"]
    if "X-Request-Id" in request.headers:
        ctx["request_id"] = request.headers["X-Request-Id"]
    return ctx


def plain(ctx: Any) -> dict[str, Any]:
    """The context as JSON can show it (``groups`` is a lazily loaded list)."""
    return {key: list(value) if isinstance(value, list) else value for key, value in ctx.items()}


def checkout(request: HttpRequest) -> HttpResponse:
    return render(request, "django_checkout.html", {"flag_key": "new_checkout"})


def whoami(request: HttpRequest) -> JsonResponse:
    if BARRIER is not None:
        BARRIER.wait(timeout=60)
    return JsonResponse(
        {
            "context": plain(flagkit.current_context()),
            "new_checkout": flagkit.is_enabled("new_checkout"),
            "same_client": flags_of(request) is flagkit.get_client() is vars(request)["flags"],
        }
    )


async def async_whoami(request: HttpRequest) -> JsonResponse:
    before = dict(flagkit.current_context())
    await asyncio.sleep(0.02)  # let the other requests' tasks run in between
    return JsonResponse(
        {
            "before": before,
            "context": dict(flagkit.current_context()),
            "new_checkout": flagkit.is_enabled("new_checkout"),
        }
    )


def pinned(request: HttpRequest) -> JsonResponse:
    """Answers stay the same within a request even if the flags change meanwhile."""
    first = flagkit.is_enabled("new_checkout")
    handle = flags_of(request).push_overrides({"new_checkout": not first})
    try:
        second = flagkit.is_enabled("new_checkout")
    finally:
        flags_of(request).pop_overrides(handle)
    return JsonResponse({"first": first, "second": second})


@flag_required("new_checkout")
def beta(request: HttpRequest) -> HttpResponse:
    return HttpResponse("beta page")


@flag_required("new_checkout", redirect_to="checkout")
def beta_or_checkout(request: HttpRequest) -> HttpResponse:
    return HttpResponse("beta page")


@flag_required("new_checkout")
async def async_beta(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async beta page")


def bootstrap_page(request: HttpRequest) -> HttpResponse:
    from django.template import engines

    template = engines["django"].from_string(
        "<html><body>{% load flagkit %}{% flagkit_bootstrap %}</body></html>"
    )
    return HttpResponse(template.render({}, request))


def flag_on(request: HttpRequest, key: str) -> JsonResponse:
    """Evaluates one flag only (the query-count tests)."""
    return JsonResponse({key: flagkit.is_enabled(key)})


async def async_flag_on(request: HttpRequest, key: str) -> JsonResponse:
    return JsonResponse({key: flagkit.is_enabled(key)})


def reason(request: HttpRequest, key: str) -> JsonResponse:
    answer = flagkit.evaluate(key, None)
    return JsonResponse({"value": answer.value, "variant": answer.variant, "reason": str(answer.reason)})


async def async_reason(request: HttpRequest, key: str) -> JsonResponse:
    answer = flagkit.evaluate(key, None)
    return JsonResponse({"value": answer.value, "variant": answer.variant, "reason": str(answer.reason)})


def staff_only(request: HttpRequest) -> bool:
    """FLAGKIT["QA_PERMISSION"] of the tests."""
    return bool(request.user.is_staff)


async def async_staff_only(request: HttpRequest) -> bool:
    user = await request.auser()
    return bool(user.is_staff)


async def async_never(request: HttpRequest) -> bool:
    """An async permission that refuses: its coroutine object is truthy, its answer is not."""
    return False


urlpatterns = [
    path("reason/<str:key>/", reason),
    path("async-reason/<str:key>/", async_reason),
    path("flag/<str:key>/", flag_on),
    path("async-flag/<str:key>/", async_flag_on),
    path("checkout/", checkout, name="checkout"),
    path("whoami/", whoami),
    path("async-whoami/", async_whoami),
    path("pinned/", pinned),
    path("beta/", beta),
    path("beta-or-checkout/", beta_or_checkout),
    path("async-beta/", async_beta),
    path("bootstrap/", bootstrap_page),
    path("ops/flags/", include(flag_status_urls(check=lambda request: request.user.is_staff))),
]


class RecordingHook:
    """FLAGKIT["HOOKS"] of the tests: records each evaluated key (a class: instantiated once)."""

    seen: list[str] = []  # noqa: RUF012 - shared on purpose: the test reads what the instance saw

    def after(self, ctx: Any, details: Any) -> None:
        RecordingHook.seen.append(details.key)


EXPOSED: list[Any] = []


def record_exposure(exposure: Any) -> None:
    """FLAGKIT["EXPOSURES"] of the tests."""
    EXPOSED.append(exposure)
