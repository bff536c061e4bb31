"""URL map: the API of each app, the operations endpoints and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.defaults import page_not_found

from core import ops

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("reservations.urls")),
    path("", include("queue_app.urls")),
    path("", include("web.urls")),
]


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Unknown API paths answer in the contract's error shape; pages get Django's 404 page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "not_found", "detail": "Not found."}, status=404)
    return page_not_found(request, exception or Http404())


def handler500(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"error": "server_error", "detail": "Something went wrong on our side."}, status=500)
