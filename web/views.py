"""Page views of the browser booking flow.

Thin on purpose: each renders a template with what the page needs from the
existing selectors and services; the page's JavaScript then talks to the
JSON API (session cookie + CSRF token) for everything live.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from accounts.services import account_attempt_check, user_register
from core.client_address import client_address
from core.errors import ApplicationError, RateLimited
from core.qr import qr_svg
from queue_app.admission import admission_is_active
from queue_app.services import ws_path
from reservations import selectors
from reservations.checkin import may_scan_tickets
from reservations.models import Event, Ticket
from reservations.serializers import event_data
from web.forms import SignupForm

# Ticket codes are URL-safe and unguessable (API.md); anything else is not a code.
TICKET_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


def _event_context(event: Event) -> dict[str, Any]:
    counts = selectors.event_seat_counts(event_ids=[event.id])[event.id]
    return {"event": event, "data": event_data(event, counts)}


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _too_many(request: HttpRequest, template: str, context: dict[str, Any], exc: RateLimited) -> HttpResponse:
    """The page again, with the contract's 429 and ``Retry-After``, and nothing done."""
    wait = math.ceil(exc.retry_after or 1)
    message = gettext("Too many attempts from your network. Please try again in {wait} seconds.").format(wait=wait)
    context["form"].add_error(None, message)
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(wait)
    return response


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account through ``accounts.services.user_register`` and log the person in."""
    form = SignupForm(request.POST or None)
    if request.method == "POST":
        try:
            account_attempt_check(kind="register", address=client_address(request))
        except RateLimited as exc:
            return _too_many(request, "web/signup.html", {"form": form, "next": _safe_next(request, "")}, exc)
    if request.method == "POST" and form.is_valid():
        try:
            user, _token = user_register(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                email=form.cleaned_data["email"],
            )
        except ApplicationError as exc:
            fields = exc.extra.get("fields") or {}
            for name, messages in fields.items():
                for message in messages:
                    form.add_error(name if name in form.fields else None, message)
            if not fields:
                form.add_error("username" if exc.code == "username_taken" else None, exc.detail)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(_safe_next(request, reverse("web:event-list")))
    return render(request, "web/signup.html", {"form": form, "next": _safe_next(request, "")})


class LimitedLoginView(LoginView):
    """Django's login page, with each attempt counted per client address (``RATE_LIMIT_LOGIN``)."""

    template_name = "web/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            account_attempt_check(kind="login", address=client_address(request))
        except RateLimited as exc:
            return _too_many(request, self.template_name, self.get_context_data(form=self.get_form()), exc)
        return super().post(request, *args, **kwargs)


@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    events = list(selectors.event_list())
    counts = selectors.event_seat_counts(event_ids=[e.id for e in events])
    return render(request, "web/event_list.html", {"events": [event_data(e, counts[e.id]) for e in events]})


@require_GET
def event_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    return render(request, "web/event_detail.html", _event_context(selectors.event_get_or_404(event_id=event_id)))


@require_GET
@login_required
def event_queue(request: HttpRequest, event_id: int) -> HttpResponseBase:
    """The waiting page; an event without a queue goes straight to its seat map."""
    event = selectors.event_get_or_404(event_id=event_id)
    if not event.queue_enabled:
        return redirect("web:event-seats", event_id=event.id)
    context = _event_context(event)
    context["queue_config"] = {
        "event": context["data"],
        "api": reverse("api-event-queue", kwargs={"event_id": event.id}),
        "challenge_api": reverse("api-event-queue-challenge", kwargs={"event_id": event.id}),
        "draw_api": reverse("api-event-draw", kwargs={"event_id": event.id}),
        "pow_worker": static("web/js/pow-worker.js"),
        "ws": ws_path(event.id),
        "seats_url": reverse("web:event-seats", kwargs={"event_id": event.id}),
        "event_url": reverse("web:event-detail", kwargs={"event_id": event.id}),
        "login_url": reverse("web:login") + "?" + urlencode({"next": request.path}),
    }
    return render(request, "web/queue.html", context)


@require_GET
@login_required
def event_seats(request: HttpRequest, event_id: int) -> HttpResponseBase:
    """The seat map, for admitted shoppers only: everybody else goes to the waiting page."""
    event = selectors.event_get_or_404(event_id=event_id)
    if not admission_is_active(event=event, user_id=request.user.pk):
        return redirect("web:event-queue", event_id=event.id)
    context = _event_context(event)
    context["seats_config"] = {
        "event": context["data"],
        "seats_api": reverse("api-seats", kwargs={"event_id": event.id}),
        "layout_api": reverse("api-seat-layout", kwargs={"event_id": event.id}),
        "status_api": reverse("api-seat-status", kwargs={"event_id": event.id}),
        "seats_ws": reverse("ws-event-seats", urlconf="reservations.routing", kwargs={"event_id": event.id}),
        "holds_api": reverse("api-holds", kwargs={"event_id": event.id}),
        "queue_api": reverse("api-event-queue", kwargs={"event_id": event.id}),
        "queue_url": reverse("web:event-queue", kwargs={"event_id": event.id}),
        "checkout_url": reverse("web:hold-checkout", kwargs={"hold_id": 0}).replace("/0/", "/{id}/"),
        "hold_expired": request.GET.get("hold_expired") == "1",
    }
    return render(request, "web/seats.html", context)


@require_GET
@login_required
def hold_checkout(request: HttpRequest, hold_id: int) -> HttpResponse:
    """Checkout of one hold; the page reads the hold through the API (404 for others' holds)."""
    config = {
        "hold_id": hold_id,
        "hold_api": reverse("api-hold", kwargs={"hold_id": hold_id}),
        "seats_url": reverse("web:event-seats", kwargs={"event_id": 0}).replace("/0/", "/{event}/"),
        "order_url": reverse("web:order-confirmation", kwargs={"order_id": 0}).replace("/0/", "/{id}/"),
        "tickets_url": reverse("web:my-tickets"),
    }
    return render(request, "web/checkout.html", {"checkout_config": config})


@require_GET
@login_required
def order_confirmation(request: HttpRequest, order_id: int) -> HttpResponse:
    config = {
        "orders_api": reverse("api-order", kwargs={"order_id": order_id}),
        "single": True,
        "qr_url": _qr_url_template(),
        "cancel_url": _cancel_url_template(),
        "pdf_url": _pdf_url_template(),
    }
    return render(request, "web/confirmation.html", {"orders_config": config})


@require_GET
@login_required
def my_tickets(request: HttpRequest) -> HttpResponse:
    config = {
        "orders_api": reverse("api-orders"),
        "single": False,
        "qr_url": _qr_url_template(),
        "cancel_url": _cancel_url_template(),
        "pdf_url": _pdf_url_template(),
    }
    return render(request, "web/tickets.html", {"orders_config": config})


def _pdf_url_template() -> str:
    return reverse("api-ticket-pdf", kwargs={"ticket_id": 0}).replace("/0/", "/{id}/")


def _qr_url_template() -> str:
    return reverse("web:ticket-qr", kwargs={"code": "CODE"}).replace("CODE", "{code}")


def _cancel_url_template() -> str:
    return reverse("api-order-cancel", kwargs={"order_id": 0}).replace("/0/", "/{id}/")


@require_GET
@login_required
def ticket_qr(request: HttpRequest, code: str) -> HttpResponse:
    """The QR code of one of the person's tickets that is not void, as SVG; 404 for anyone else's."""
    if not TICKET_CODE_RE.match(code):
        raise Http404("Not a ticket code.")
    admitting = [Ticket.Status.VALID, Ticket.Status.CHECKED_IN]
    if not selectors.ticket_list(user_id=request.user.pk).filter(code=code, status__in=admitting).exists():
        raise Http404("No such ticket.")
    response = HttpResponse(qr_svg(data=code), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
@login_required
def door_scanner(request: HttpRequest) -> HttpResponse:
    """Door staff's scanner for phones: the camera reads a ticket's QR code
    (or staff type it) and ``POST /api/checkin/`` answers green or red.
    Anyone who may not scan gets 403."""
    if not may_scan_tickets(request.user):
        raise PermissionDenied
    config = {
        "checkin_api": reverse("api-checkin"),
        "jsqr_url": static("web/vendor/jsqr/jsQR.js"),
        "login_url": reverse("web:login") + "?" + urlencode({"next": request.path}),
    }
    return render(request, "web/scanner.html", {"events": selectors.door_events(), "scanner_config": config})
