"""Views of the real project: a login page (Django's own), flag-gated pages, the context."""

import os
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

import flagkit
from flagkit.integrations.django.decorators import flag_required


def flag_context(request: HttpRequest) -> dict[str, Any]:
    """FLAGKIT["CONTEXT"] as docs/integrations.md shows it: reads request.user and a relation."""
    if not request.user.is_authenticated:
        return {}
    return {
        "staff": request.user.is_staff,
        "beta_tester": request.user.groups.filter(name="beta").exists(),
    }


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def plain(ctx: Any) -> dict[str, Any]:
    """The context as JSON can show it (``groups`` is a lazily loaded list)."""
    return {key: list(value) if isinstance(value, list) else value for key, value in ctx.items()}


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"context": plain(flagkit.current_context())})


async def async_whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"context": plain(flagkit.current_context())})


def flag_on(request: HttpRequest, key: str) -> JsonResponse:
    return JsonResponse({key: flagkit.is_enabled(key), "pid": os.getpid()})


async def async_flag_on(request: HttpRequest, key: str) -> JsonResponse:
    return JsonResponse({key: flagkit.is_enabled(key)})


@flag_required("staff_beta")
def staff_beta(request: HttpRequest) -> HttpResponse:
    return HttpResponse("staff beta")


@flag_required("staff_beta")
async def async_staff_beta(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async staff beta")
