"""The OpenAPI description of the contract (drf-spectacular), and its error shape.

Each view declares its success bodies with drf-spectacular's
``extend_schema`` and its own errors with :func:`errors`, a list of
:class:`ErrorDoc` taken from each domain's catalogue. :class:`ContractSchema`
(``DEFAULT_SCHEMA_CLASS``) turns them into one response per status, every one
in the contract's ``{"error", "detail", ...}`` shape with the codes that
status may carry, and adds the errors that follow from the view's class
rather than its code: 401 for a view that authenticates, 403 for a CSRF
failure on an unsafe method a browser session may send and for a
permission class with a code of its own (check-in's ``forbidden``), 400 /
413 / 415 for a JSON body, 503 ``unavailable`` everywhere (PostgreSQL or
Redis out of reach, ``core.errors.service_error_parts``). One function builds every
error response, so a code is described the same way wherever it appears.

The event-loop fast paths (``queue_app.fastpath``, ``reservations.fastpath``)
answer some of these paths in front of Django with the views' own answers,
so the paths have one description each. The operations endpoints are plain
Django views: ``operations_paths`` adds them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission

#: The view attribute :func:`errors` sets on a handler method.
ERRORS_ATTRIBUTE = "contract_errors"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
DATE_TIME = {"type": "string", "format": "date-time"}
FIELD_ERRORS = {
    "type": "object",
    "description": "Messages per request field.",
    "additionalProperties": {"type": "array", "items": STRING},
}
RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 1},
}


@dataclass(frozen=True)
class ErrorDoc:
    """One error an endpoint may answer: its status, code, a sample sentence,
    the extra fields it carries (name -> JSON schema, with their sample
    values) and whether it always sends ``Retry-After``."""

    status: int
    code: str
    detail: str
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    sample: dict[str, Any] = field(default_factory=dict)
    retry_after: bool = False


NOT_FOUND = ErrorDoc(404, "not_found", "Not found.")
INVALID = ErrorDoc(400, "invalid", "The request is not valid.", {"fields": FIELD_ERRORS}, {"fields": {}})
NOT_AUTHENTICATED = ErrorDoc(401, "not_authenticated", "Authentication credentials were not provided.")
AUTHENTICATION_FAILED = ErrorDoc(401, "authentication_failed", "Invalid token.")
CSRF_FAILED = ErrorDoc(403, "permission_denied", "CSRF Failed: CSRF token missing.")
TOO_LARGE = ErrorDoc(
    413,
    "too_large",
    "The request body is larger than 2621440 bytes.",
    {"limit_bytes": INTEGER},
    {"limit_bytes": 2621440},
)
UNSUPPORTED_MEDIA_TYPE = ErrorDoc(415, "unsupported_media_type", 'Unsupported media type "text/plain" in request.')
RATE_LIMITED = ErrorDoc(429, "rate_limited", "Too many requests; try again later.", retry_after=True)
UNAVAILABLE = ErrorDoc(
    503, "unavailable", "The service is busy or briefly unavailable; try again shortly.", retry_after=True
)


def errors(*docs: ErrorDoc) -> Callable[[Callable], Callable]:
    """Declare the errors a view method answers besides those of its class
    (see :class:`ContractSchema`); read only by the schema generator."""

    def mark(method: Callable) -> Callable:
        setattr(method, ERRORS_ATTRIBUTE, docs)
        return method

    return mark


def error_responses(docs: Iterable[ErrorDoc]) -> dict[str, dict[str, Any]]:
    """OpenAPI responses for ``docs``: one per status, the contract's error
    shape with the codes of that status, a sample of each, ``Retry-After``
    when every code of the status sends it."""
    by_status: dict[int, dict[str, ErrorDoc]] = {}
    for doc in docs:
        by_status.setdefault(doc.status, {}).setdefault(doc.code, doc)
    responses = {}
    for status, by_code in sorted(by_status.items()):
        group = list(by_code.values())
        extra: dict[str, dict[str, Any]] = {}
        for doc in group:
            extra.update(doc.extra)
        schema = {
            "type": "object",
            "required": ["error", "detail"],
            "properties": {
                "error": {"type": "string", "enum": [doc.code for doc in group]},
                "detail": {"type": "string", "description": "A sentence for people."},
                **extra,
            },
        }
        examples = {doc.code: {"value": {"error": doc.code, "detail": doc.detail, **doc.sample}} for doc in group}
        response: dict[str, Any] = {
            "description": ", ".join(f"`{doc.code}`" for doc in group),
            "content": {"application/json": {"schema": schema, "examples": examples}},
        }
        if all(doc.retry_after for doc in group):
            response["headers"] = {"Retry-After": {**RETRY_AFTER, "required": True}}
        elif any(doc.retry_after for doc in group):
            response["headers"] = {"Retry-After": RETRY_AFTER}
        responses[str(status)] = response
    return responses


def permission_error(permission: BasePermission) -> ErrorDoc:
    """The 403 a DRF permission with its own ``code`` and ``message`` answers
    (DRF's ``permission_denied`` raises them as they are)."""
    return ErrorDoc(403, permission.code, permission.message)


class ContractSchema(AutoSchema):
    """drf-spectacular's ``AutoSchema`` with the contract's errors: the view
    method's own (:func:`errors`) and those its class implies."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        handler = getattr(self.view, self.method.lower(), None)
        docs = [*getattr(handler, ERRORS_ATTRIBUTE, ()), *self._class_errors(has_body="requestBody" in operation)]
        operation["responses"].update(error_responses(docs))
        return operation

    def _class_errors(self, *, has_body: bool) -> list[ErrorDoc]:
        """The errors that follow from how the view is built, not from what it does."""
        docs = []
        authenticators = self.view.get_authenticators()
        if authenticators:
            public = all(isinstance(p, AllowAny) for p in self.view.get_permissions())
            docs += [AUTHENTICATION_FAILED] if public else [NOT_AUTHENTICATED, AUTHENTICATION_FAILED]
            if self.method in UNSAFE_METHODS and any(isinstance(a, SessionAuthentication) for a in authenticators):
                docs.append(CSRF_FAILED)
        docs += [permission_error(p) for p in self.view.get_permissions() if getattr(p, "code", None)]
        if has_body and self.method in BODY_METHODS:
            docs += [INVALID, TOO_LARGE, UNSUPPORTED_MEDIA_TYPE]
        docs.append(UNAVAILABLE)
        return docs


def _plain_operation(
    operation_id: str, summary: str, description: str, responses: dict[str, Any], *, tag: str = "operations"
) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "tags": [tag],
        "security": [{}],
        "responses": responses,
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


CHECKS = {
    "type": "object",
    "properties": {"database": STRING, "redis": STRING},
    "description": "`ok`, or the error class of the check that failed.",
}


def operations_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook: the operations endpoints
    (``core.ops``), plain Django views the generator cannot see."""
    ok = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}}
    ready = {**ok, "properties": {**ok["properties"], "checks": CHECKS}}
    not_ready = {
        "type": "object",
        "required": ["error", "detail", "failing"],
        "properties": {
            "error": {"type": "string", "enum": ["not_ready"]},
            "detail": STRING,
            "failing": {"type": "array", "items": {"type": "string", "enum": ["database", "redis"]}},
            "checks": CHECKS,
        },
    }
    paths = {
        "/healthz": {
            "get": _plain_operation(
                "healthz", "Liveness", "200 while the process runs.", {"200": _json("The process runs.", ok)}
            )
        },
        "/readyz": {
            "get": _plain_operation(
                "readyz",
                "Readiness",
                "200 when PostgreSQL and Redis answer, 503 naming the failing part otherwise.",
                {"200": _json("Ready.", ready), "503": _json("`not_ready`", not_ready)},
            )
        },
        "/metrics": {
            "get": _plain_operation(
                "metrics",
                "Prometheus metrics",
                "Prometheus text exposition format.",
                {"200": {"description": "Metrics.", "content": {"text/plain": {"schema": STRING}}}},
            )
        },
    }
    result["paths"] = {**result.get("paths", {}), **paths}
    return result
