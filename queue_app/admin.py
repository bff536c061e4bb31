"""The queue's part of the event admin: pause/resume actions, live figures
(waiting, admitted, measured admission rate) and live-editable batch,
interval and cap. The queue extends booking's ``EventAdmin`` (booking does
not know the queue); the admission round reads the event every tick, so
edits apply without a restart.

Each event also has a live dashboard (``<id>/dashboard/``): one page that
polls one JSON read (``queue_app.selectors.event_dashboard``) every second
and draws its charts in SVG, with pause / resume / close buttons that call
the same services as the actions above. Staff only (the admin's own
login); viewing needs the event's view permission, the buttons its change
permission.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, Forbidden, Invalid, NotFound, service_error_parts
from queue_app.controller import admission_control_figures
from queue_app.selectors import DASHBOARD_MINUTES, draw_public_get, event_dashboard, event_dashboard_forget
from queue_app.services import event_sale_close, event_sale_pause, event_sale_resume, event_status_announce
from queue_app.store import store_figures, store_prequeue_total
from reservations.admin import EventAdmin
from reservations.errors import event_not_found
from reservations.models import Event

FIGURES = ("queue_waiting", "queue_admitted", "queue_rate", "queue_batch_now", "queue_draw")
#: The dashboard's buttons: each the service the admin's actions use.
DASHBOARD_ACTIONS: dict[str, Callable[..., bool]] = {
    "pause": event_sale_pause,
    "resume": event_sale_resume,
    "close": event_sale_close,
}
DASHBOARD_DEFAULT_MINUTES = 30
MINUTES = re.compile(r"[0-9]{1,3}")


def dashboard_minutes(raw: str | None) -> int:
    """``?minutes=``: the charts' window, a whole number within ``DASHBOARD_MINUTES``."""
    if raw is None:
        return DASHBOARD_DEFAULT_MINUTES
    if not MINUTES.fullmatch(raw) or int(raw) not in DASHBOARD_MINUTES:
        first, last = DASHBOARD_MINUTES[0], DASHBOARD_MINUTES[-1]
        raise Invalid(
            f"minutes must be a whole number from {first} to {last}.",
            fields={"minutes": [f"Must be a whole number from {first} to {last}."]},
        )
    return int(raw)


def _json_answer(answer: Callable[[], dict[str, Any]]) -> JsonResponse:
    """The dashboard's JSON, or its error in the contract's shape."""
    try:
        return JsonResponse(answer())
    except ApplicationError as exc:
        parts = service_error_parts(exc)
        assert parts is not None  # every ApplicationError has its parts
        return JsonResponse(parts.body, status=parts.status, headers=parts.headers)


class QueueAdminMixin:
    actions = ["queue_pause", "queue_resume"]
    list_editable = ["admission_batch_size", "admission_interval_seconds", "admission_cap"]

    @admin.action(description="Pause the sale (the queue keeps its order, admits nobody)")
    def queue_pause(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        changed = sum(event_sale_pause(event_id=event_id) for event_id in queryset.values_list("id", flat=True))
        self.message_user(request, f"Paused {changed} event(s).", messages.SUCCESS)

    @admin.action(description="Resume the sale")
    def queue_resume(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        changed = sum(event_sale_resume(event_id=event_id) for event_id in queryset.values_list("id", flat=True))
        self.message_user(request, f"Resumed {changed} event(s).", messages.SUCCESS)

    @admin.display(description="Waiting")
    def queue_waiting(self, event: Event) -> int:
        return store_figures(event_id=event.id, now=time.time())[0]

    @admin.display(description="Admitted")
    def queue_admitted(self, event: Event) -> int:
        return store_figures(event_id=event.id, now=time.time())[1]

    @admin.display(description="Admission rate (people/s)")
    def queue_rate(self, event: Event) -> str:
        rate = store_figures(event_id=event.id, now=time.time())[2]
        return "-" if rate is None else f"{rate:.1f}"

    @admin.display(description="Batch now (and why)")
    def queue_batch_now(self, event: Event) -> str:
        batch, reason = admission_control_figures(event_id=event.id)
        return f"{'-' if batch is None else batch} of {event.admission_batch_size}: {reason}"

    @admin.display(description="Live")
    def dashboard_link(self, event: Event) -> str:
        url = reverse(self._url_name("dashboard"), args=[event.id])
        return format_html('<a href="{}">Dashboard</a>', url)

    @admin.display(description=gettext_lazy("Pre-queue draw"))
    def queue_draw(self, event: Event) -> str:
        if event.prequeue_opens_at is None:
            return "-"
        draw = draw_public_get(event_id=event.id)
        if draw["state"] == "drawn":
            count = draw["entrants"]
            drawn_at = formats.localize(timezone.localtime(datetime.fromisoformat(draw["drawn_at"])))
            text = ngettext("Drawn at %(time)s: %(count)s entrant", "Drawn at %(time)s: %(count)s entrants", count)
            return text % {"time": drawn_at, "count": formats.number_format(count, force_grouping=True)}
        count = store_prequeue_total(event_id=event.id)
        text = ngettext(
            "%(count)s entry; the seed's SHA-256 is %(commitment)s",
            "%(count)s entries; the seed's SHA-256 is %(commitment)s",
            count,
        )
        return text % {"count": formats.number_format(count, force_grouping=True), "commitment": draw["commitment"]}

    def get_list_display(self, request: HttpRequest) -> list[str]:
        return [*super().get_list_display(request), *FIGURES, "dashboard_link"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*super().get_readonly_fields(request, obj), *FIGURES, "dashboard_link"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.append(("Live queue", {"fields": [*FIGURES, "dashboard_link"]}))
        return fieldsets

    def _url_name(self, suffix: str, *, namespaced: bool = True) -> str:
        name = f"{self.opts.app_label}_{self.opts.model_name}_{suffix}"
        return f"{self.admin_site.name}:{name}" if namespaced else name

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:event_id>/dashboard/",
                view(require_GET(self.dashboard_view)),
                name=self._url_name("dashboard", namespaced=False),
            ),
            path(
                "<int:event_id>/dashboard/figures/",
                view(require_GET(self.dashboard_figures_view)),
                name=self._url_name("dashboard_figures", namespaced=False),
            ),
            path(
                "<int:event_id>/dashboard/<str:action>/",
                view(require_POST(self.dashboard_action_view)),
                name=self._url_name("dashboard_action", namespaced=False),
            ),
            *super().get_urls(),
        ]

    def _dashboard_event(self, request: HttpRequest, event_id: int, *, change: bool = False) -> Event:
        """The event, if this staff member may watch it (or, with ``change``, steer it)."""
        event = Event.objects.filter(pk=event_id).first()
        if event is None:
            raise event_not_found()
        allowed = self.has_change_permission(request, event) if change else self.has_view_permission(request, event)
        if not allowed:
            raise Forbidden("forbidden", "You may not " + ("steer" if change else "watch") + " this sale.")
        return event

    def dashboard_view(self, request: HttpRequest, event_id: int) -> HttpResponse:
        try:
            event = self._dashboard_event(request, event_id)  # no such event: NotFound is Django's 404 too
        except Forbidden:
            raise PermissionDenied from None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": event,
            "title": f"Live: {event.name}",
            "figures_url": reverse(self._url_name("dashboard_figures"), args=[event.id]),
            "action_urls": {
                name: reverse(self._url_name("dashboard_action"), args=[event.id, name]) for name in DASHBOARD_ACTIONS
            },
            "can_steer": self.has_change_permission(request, event),
            "minutes_choices": [15, DASHBOARD_DEFAULT_MINUTES, 60, DASHBOARD_MINUTES[-1]],
            "minutes": DASHBOARD_DEFAULT_MINUTES,
        }
        return TemplateResponse(request, "queue_app/dashboard.html", context)

    def dashboard_figures_view(self, request: HttpRequest, event_id: int) -> JsonResponse:
        def answer() -> dict[str, Any]:
            event = self._dashboard_event(request, event_id)
            return event_dashboard(event=event, minutes=dashboard_minutes(request.GET.get("minutes")))

        return _json_answer(answer)

    def dashboard_action_view(self, request: HttpRequest, event_id: int, action: str) -> JsonResponse:
        def answer() -> dict[str, Any]:
            change = DASHBOARD_ACTIONS.get(action)
            if change is None:
                raise NotFound(f"No dashboard action {action[:40]!r}.")
            event = self._dashboard_event(request, event_id, change=True)
            changed = change(event_id=event.id)
            if changed:
                self.log_change(request, event, f"{action.capitalize()} from the live dashboard.")
            event_dashboard_forget(event_id=event.id)
            event.refresh_from_db(fields=["status"])
            return {"changed": changed, "organizer_status": event.status}

        return _json_answer(answer)

    def save_model(self, request: HttpRequest, obj: Event, form: Any, change: bool) -> None:
        """Tell the waiting page when the organizer changes the sale's status."""
        super().save_model(request, obj, form, change)
        if change and "status" in form.changed_data:
            event_id = obj.id
            transaction.on_commit(lambda: event_status_announce(event_id=event_id))


admin.site.unregister(Event)


@admin.register(Event)
class QueueEventAdmin(QueueAdminMixin, EventAdmin):
    """Booking's event admin with the queue's controls."""
