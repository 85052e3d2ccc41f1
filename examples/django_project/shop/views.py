"""Views of the flagkit Django example."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from flagkit.integrations.django.decorators import flag_required


def query_context(request: HttpRequest) -> dict[str, Any]:
    """``FLAGKIT["CONTEXT"]``: the app's own attributes for flag rules."""
    ctx: dict[str, Any] = {}
    if user := request.GET.get("user"):
        ctx["user_id"] = user
    if plan := request.GET.get("plan"):
        ctx["plan"] = plan
    return ctx


def checkout(request: HttpRequest) -> HttpResponse:
    return render(request, "checkout.html")


@flag_required("new_checkout", redirect_to="checkout")
def beta(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Welcome to the beta.")
