"""The queue's part of the event admin: pause/resume actions, live figures
(waiting, admitted, measured admission rate) and live-editable batch,
interval and cap. The queue extends booking's ``EventAdmin`` (booking does
not know the queue); the admission round reads the event every tick, so
edits apply without a restart.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from queue_app.controller import admission_control_figures
from queue_app.selectors import draw_public_get
from queue_app.services import event_sale_pause, event_sale_resume, event_status_announce
from queue_app.store import store_figures, store_prequeue_total
from reservations.admin import EventAdmin
from reservations.models import Event

FIGURES = ("queue_waiting", "queue_admitted", "queue_rate", "queue_batch_now", "queue_draw")


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

    @admin.display(description="Pre-queue draw")
    def queue_draw(self, event: Event) -> str:
        if event.prequeue_opens_at is None:
            return "-"
        draw = draw_public_get(event_id=event.id)
        if draw["state"] == "drawn":
            return f"drawn at {draw['drawn_at']}: {draw['entrants']} entrants"
        return f"{store_prequeue_total(event_id=event.id)} entries; seed's SHA-256 {draw['commitment']}"

    def get_list_display(self, request: HttpRequest) -> list[str]:
        return [*super().get_list_display(request), *FIGURES]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*super().get_readonly_fields(request, obj), *FIGURES]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.append(("Live queue", {"fields": list(FIGURES)}))
        return fieldsets

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
