"""URL map: the API of each app, the operations endpoints and the admin."""

from __future__ import annotations

import sys

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.urls import include, path
from django.utils.translation import gettext
from django.views.decorators.cache import cache_control
from django.views.defaults import bad_request, page_not_found
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import ops
from core.errors import ErrorParts, error_parts, request_error_parts, server_error_parts, service_error_parts

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # The language switcher (a form posting to set_language) and the pages'
    # JavaScript translations (cached a day: the URL names language and version).
    path("i18n/", include("django.conf.urls.i18n")),
    path(
        "jsi18n/",
        cache_control(max_age=86400, private=True)(JavaScriptCatalog.as_view(domain="djangojs")),
        name="javascript-catalog",
    ),
    path("", include("accounts.urls")),
    path("", include("reservations.urls")),
    path("", include("queue_app.urls")),
    path("", include("web.urls")),
]


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Unknown API paths answer in the contract's error shape; pages get Django's 404 page."""
    if request.path.startswith("/api/"):
        return _json(error_parts("not_found", gettext("Not found."), 404))
    return page_not_found(request, exception or Http404())


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _json(parts: ErrorParts) -> JsonResponse:
    return JsonResponse(parts.body, status=parts.status, headers=parts.headers)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A request Django refused (``SuspiciousOperation``, e.g. a body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` or a hostile header): the contract's JSON
    on API paths; pages get Django's 400 page."""
    if _is_api(request):
        parts = request_error_parts(exception) if exception is not None else None
        return _json(parts or error_parts("invalid", gettext("The request is not valid."), 400))
    return bad_request(request, exception or Exception())


def handler500(request: HttpRequest) -> HttpResponse:
    """An exception no view answered. PostgreSQL or Redis unreachable is 503
    with ``Retry-After`` (as the API's own handler answers it), anything else
    500: JSON on API paths, a page elsewhere. The page is rendered without
    the request (no context processors): the user and session behind them
    may be what is down."""
    parts = service_error_parts(sys.exception()) or server_error_parts()
    if _is_api(request):
        return _json(parts)
    if parts.status == 503:
        return HttpResponse(loader.render_to_string("503.html"), status=503, headers=parts.headers)
    return HttpResponse(loader.render_to_string("500.html"), status=500)
