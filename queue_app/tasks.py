"""Celery entry points of the queue (thin wrappers over services)."""

from __future__ import annotations

from celery import shared_task

from queue_app.services import admission_rounds_run as admission_rounds_service
from queue_app.services import draw_kicked_run
from queue_app.services import draws_run as draws_service


@shared_task(name="queue_app.tasks.admission_rounds_run", ignore_result=True)
def admission_rounds_run() -> int:
    """Beat, about every second: one admission round per on-sale queued event."""
    return admission_rounds_service()


@shared_task(name="queue_app.tasks.draws_run", ignore_result=True)
def draws_run() -> int:
    """Beat, about every second: pre-queue figures to the waiting pages, and each draw that is due."""
    return draws_service()


@shared_task(name="queue_app.tasks.draw_run", ignore_result=True)
def draw_run(event_id: int) -> bool:
    """Kicked by the first join after a pre-queue event's opening: make its draw now."""
    return draw_kicked_run(event_id=event_id)
