from django.urls import path

from accounts import api

urlpatterns = [
    path("api/auth/register/", api.RegisterApi.as_view(), name="api-register"),
    path("api/auth/token/", api.TokenApi.as_view(), name="api-token"),
    path("api/auth/logout/", api.LogoutApi.as_view(), name="api-logout"),
]
