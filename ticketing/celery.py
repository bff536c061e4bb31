"""The Celery application ``ticketing`` (``celery -A ticketing worker|beat``).

Logging is the project's (``settings.LOGGING``: ``LOG_LEVEL``,
``LOG_FORMAT``, the quiet periodic jobs), not Celery's own set-up. A task
queued while a request runs carries its request id in a message header and
logs with it; its event too when the task takes an ``event_id``
(``core.request_context``). With ``METRICS_WORKER_PORT`` the worker's main
process serves the sum of its pool's metrics (``core.metrics``).
"""

import logging.config
import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")

app = Celery("ticketing")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def logging_configure(**_: Any) -> None:
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.before_task_publish.connect
def task_request_id_send(headers: dict[str, Any] | None = None, **_: Any) -> None:
    from core.request_context import task_publish_note

    task_publish_note(headers)


@signals.task_prerun.connect
def task_context_set(task_id: str, task: Any, kwargs: dict[str, Any] | None = None, **_: Any) -> None:
    from core.request_context import task_context_enter

    task_context_enter(task_id=task_id, task=task, kwargs=kwargs)


@signals.task_postrun.connect
def task_context_clear(**_: Any) -> None:
    from core.request_context import task_context_leave

    task_context_leave()


@signals.worker_process_init.connect
def worker_heap_freeze(**_: Any) -> None:
    """Each pool process: its start-up heap out of the collector's way (``core.heap``)."""
    from core.heap import heap_freeze

    heap_freeze()


@signals.worker_init.connect
def worker_metrics_start(**_: Any) -> None:
    from django.conf import settings

    if settings.METRICS_ENABLED and settings.METRICS_WORKER_PORT:
        from core.metrics import worker_metrics_serve

        worker_metrics_serve(settings.METRICS_WORKER_PORT)
