"""Views of the real project: a login page (Django's own), flag-gated pages, the context."""

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


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"context": dict(flagkit.current_context())})


async def async_whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"context": dict(flagkit.current_context())})


@flag_required("staff_beta")
def staff_beta(request: HttpRequest) -> HttpResponse:
    return HttpResponse("staff beta")


@flag_required("staff_beta")
async def async_staff_beta(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async staff beta")
