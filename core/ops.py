"""Operations endpoints: liveness, readiness and Prometheus metrics.

Read-only: any method but GET and HEAD is 405. They read no session, so
they are exempt from CSRF, whose 403 would otherwise come first."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from core.metrics import metrics_on, metrics_text
from core.redis import get_redis


@csrf_exempt
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when PostgreSQL and Redis both answer; 503 naming the failing part."""
    failing: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        failing["database"] = exc.__class__.__name__
    try:
        get_redis().ping()
    except Exception as exc:  # noqa: BLE001
        failing["redis"] = exc.__class__.__name__
    if failing:
        return JsonResponse(
            {
                "error": "not_ready",
                "detail": f"Not ready: {', '.join(sorted(failing))} unreachable.",
                "failing": sorted(failing),
                "checks": {name: failing.get(name, "ok") for name in ("database", "redis")},
            },
            status=503,
        )
    return JsonResponse({"status": "ok", "checks": {"database": "ok", "redis": "ok"}})


@csrf_exempt
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text, summed over every process of this run (``core.metrics``); 404 with metrics off."""
    if not metrics_on():
        return JsonResponse({"error": "not_found", "detail": "Metrics are off (METRICS_ENABLED=0)."}, status=404)
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
