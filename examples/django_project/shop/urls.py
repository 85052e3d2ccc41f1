"""URLs of the flagkit Django example."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.checkout, name="checkout"),
    path("beta/", views.beta, name="beta"),
]
