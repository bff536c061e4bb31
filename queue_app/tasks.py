"""Celery entry points of the queue (thin wrappers over services)."""

from __future__ import annotations

from celery import shared_task

from queue_app.services import admission_rounds_run as admission_rounds_service


@shared_task(name="queue_app.tasks.admission_rounds_run", ignore_result=True)
def admission_rounds_run() -> int:
    """Beat, about every second: one admission round per on-sale queued event."""
    return admission_rounds_service()
