from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("health/", views.health),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("whoami/", views.whoami),
    path("async-whoami/", views.async_whoami),
    path("staff-beta/", views.staff_beta),
    path("async-staff-beta/", views.async_staff_beta),
    path("flag/<str:key>/", views.flag_on),
    path("async-flag/<str:key>/", views.async_flag_on),
]
