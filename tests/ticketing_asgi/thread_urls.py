"""Views that tell which thread ran them, for the ASGI handler's tests."""

from __future__ import annotations

import threading
import time

from django.http import HttpRequest, JsonResponse
from django.urls import path

arrived = threading.Event()  # the "meet" view's first caller waits here for the second
slow_threads: list[int] = []  # the threads "slow" ran on, noted as it starts


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"thread": threading.get_ident(), "middleware_thread": request.middleware_thread})


def meet(request: HttpRequest) -> JsonResponse:
    """The first caller waits until a second request runs at the same time."""
    if arrived.is_set():
        arrived.clear()
        return JsonResponse({"met": True})
    arrived.set()
    deadline = time.monotonic() + 5
    while arrived.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    return JsonResponse({"met": not arrived.is_set()})


def slow(request: HttpRequest) -> JsonResponse:
    slow_threads.append(threading.get_ident())
    time.sleep(float(request.GET["seconds"]))
    return JsonResponse({"thread": threading.get_ident()})


class Overlap:
    """How many "busy" requests run their sync code at once, and the most seen."""

    lock = threading.Lock()
    now = 0
    most = 0


def busy(request: HttpRequest) -> JsonResponse:
    with Overlap.lock:
        Overlap.now += 1
        Overlap.most = max(Overlap.most, Overlap.now)
    time.sleep(0.1)
    with Overlap.lock:
        Overlap.now -= 1
    return JsonResponse({"thread": threading.get_ident()})


urlpatterns = [path("whoami", whoami), path("meet", meet), path("slow", slow), path("busy", busy)]


class ThreadNoteMiddleware:
    """Notes the thread the middleware stack runs in."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> JsonResponse:
        request.middleware_thread = threading.get_ident()
        return self.get_response(request)
