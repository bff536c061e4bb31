"""Who and what a log line is about: the request id, the user, the event.

Each is a context variable, set where it becomes known: the request id by
``core.http_observe`` for every HTTP request (``X-Request-ID`` taken or
made), the user by whichever authentication ran (the fast paths' token
look-up, DRF's token authentication, a session), the event by the URL's
``event_id``; a Celery task gets the request id of the request that queued
it through a message header (``task_publish_note`` / ``task_context_enter``).
Asyncio tasks and asgiref's threads copy the context, so a value set for a
request never reaches another.

``LogContextFilter`` puts them on every record of the console handler: as
JSON fields (``LOG_FORMAT=json``, ``JsonLogFormatter``) or as a short
``request=... user=... event=...`` tail on the plain line.
"""

from __future__ import annotations

import logging
import os
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
USER_ID: ContextVar[int | None] = ContextVar("user_id", default=None)
EVENT_ID: ContextVar[int | None] = ContextVar("event_id", default=None)
TASK: ContextVar[tuple[str, str] | None] = ContextVar("task", default=None)  # (task id, task name)

#: An ``X-Request-ID`` we take as it is; anything else (too long, spaces,
#: control characters) is replaced by one of ours rather than logged.
REQUEST_ID_FORM = re.compile(rb"[A-Za-z0-9._:+/=@-]{1,128}")
#: The Celery message header that carries the request id to a task.
TASK_HEADER = "request_id"


def request_id_take(value: bytes | None) -> str:
    """The client's (or the proxy's) request id when it is a plain token, else a new one."""
    if value is not None and REQUEST_ID_FORM.fullmatch(value):
        return value.decode("ascii")
    return os.urandom(16).hex()


def context_note(*, user_id: int | None = None, event_id: int | None = None) -> None:
    """Record the user or the event of what runs now, for its log lines."""
    if user_id is not None:
        USER_ID.set(user_id)
    if event_id is not None:
        EVENT_ID.set(event_id)


def context_forget() -> None:
    """A new request begins: no user or event known yet (the request id is the observer's)."""
    USER_ID.set(None)
    EVENT_ID.set(None)


def task_publish_note(headers: dict[str, Any] | None) -> None:
    """Celery ``before_task_publish``: the current request id travels with the task."""
    request_id = REQUEST_ID.get()
    if request_id is not None and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


def task_context_enter(*, task_id: str, task: Any, kwargs: dict[str, Any] | None) -> None:
    """Celery ``task_prerun``: the task's request id (from its message), its
    event when it is given one, its id and name."""
    REQUEST_ID.set(getattr(task.request, TASK_HEADER, None))
    USER_ID.set(None)
    event_id = (kwargs or {}).get("event_id")
    EVENT_ID.set(event_id if isinstance(event_id, int) else None)
    TASK.set((task_id, task.name))


def task_context_leave() -> None:
    """Celery ``task_postrun``: what the task set is not the next task's."""
    for var in (REQUEST_ID, USER_ID, EVENT_ID, TASK):
        var.set(None)


class LogContextFilter(logging.Filter):
    """Adds ``request_id``, ``user_id``, ``event_id`` (a value given with
    ``extra=`` wins), ``task_id`` / ``task`` inside a Celery task, and
    ``context``, the plain format's tail."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        request_id = fields.setdefault("request_id", REQUEST_ID.get())
        user_id = fields.setdefault("user_id", USER_ID.get())
        event_id = fields.setdefault("event_id", EVENT_ID.get())
        task = TASK.get()
        if task is not None:
            fields.setdefault("task_id", task[0])
            fields.setdefault("task", task[1])
        tail = [
            f"{name}={value}"
            for name, value in (("request", request_id), ("user", user_id), ("event", event_id))
            if value is not None
        ]
        record.context = f" [{' '.join(tail)}]" if tail else ""
        return True


class JsonLogFormatter(JsonFormatter):
    """One JSON object a line: ``time`` (ISO 8601, UTC), ``level``,
    ``logger``, ``message``, ``request_id``, ``user_id``, ``event_id`` (null
    when unknown), then whatever the call added (``extra=``, ``task_id``,
    ``exc_info`` with the traceback)."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message", "request_id", "user_id", "event_id"],
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, "context", "color_message"],  # uvicorn's ANSI-coloured copy
        )

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_record["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        super().add_fields(log_record, record, message_dict)
