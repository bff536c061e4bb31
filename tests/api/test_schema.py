"""The OpenAPI description itself: complete, valid, every error in the
contract's shape, and served (with its docs page) without any outside host."""

from __future__ import annotations

import json
import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

pytestmark = pytest.mark.django_db

#: The description and its page describe the API; they are not part of it.
META_PATHS = {"/api/schema/", "/api/docs/"}


def _schema(client: APIClient) -> dict[str, Any]:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return json.loads(response.content)


def _api_views(patterns: list, prefix: str = "") -> dict[str, type[APIView]]:
    """Every DRF view of the URL map by OpenAPI path (``{name}`` for each converter)."""
    found: dict[str, type[APIView]] = {}
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found.update(_api_views(entry.url_patterns, route))
        elif isinstance(entry, URLPattern) and isinstance(getattr(entry.callback, "cls", None), type):
            if issubclass(entry.callback.cls, APIView):
                found["/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)] = entry.callback.cls
    return found


def test_the_description_generates_without_a_warning_and_validates() -> None:
    """drf-spectacular warns about a view it cannot describe (no response
    declared, a body it cannot read): a new endpoint must be described."""
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    assert json.loads(out.getvalue())["openapi"].startswith("3.")


def test_every_api_view_and_method_is_described(api_client: APIClient) -> None:
    paths = _schema(api_client)["paths"]
    views = {path: view for path, view in _api_views(get_resolver().url_patterns).items() if path not in META_PATHS}

    assert views, "no API view found"
    for path, view in views.items():
        methods = {m.lower() for m in view().allowed_methods} - {"options", "head"}
        assert set(paths.get(path, {})) == methods, path
    assert {"/healthz", "/readyz", "/metrics"} <= set(paths)


def test_every_error_answer_is_described_in_the_contract_shape(api_client: APIClient) -> None:
    for path, item in _schema(api_client)["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            for code, response in responses.items():
                if int(code) < 400:
                    continue
                schema = response["content"]["application/json"]["schema"]
                assert schema["required"][:2] == ["error", "detail"] or path == "/readyz", (method, path, code)
                assert schema["properties"]["error"]["enum"], (method, path, code)


def test_authenticated_operations_describe_401_and_every_operation_503(api_client: APIClient) -> None:
    for path, item in _schema(api_client)["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            needs_login = {} not in operation.get("security", [{}])
            if needs_login:
                codes = responses["401"]["content"]["application/json"]["schema"]["properties"]["error"]["enum"]
                assert codes == ["not_authenticated", "authentication_failed"], (method, path)
            if path.startswith("/api/"):
                assert "503" in responses, (method, path)
                assert responses["503"]["headers"]["Retry-After"]["required"] is True


def test_the_booking_errors_of_the_contract_are_described(api_client: APIClient) -> None:
    """Spot checks against API.md's tables."""
    paths = _schema(api_client)["paths"]

    def codes(path: str, method: str, status: str) -> set[str]:
        schema = paths[path][method]["responses"][status]["content"]["application/json"]["schema"]
        return set(schema["properties"]["error"]["enum"])

    checkout = "/api/holds/{hold_id}/checkout/"
    assert codes(checkout, "post", "402") == {"payment_declined"}
    assert codes(checkout, "post", "410") == {"hold_expired"}
    assert codes(checkout, "post", "502") == {"payment_unavailable"}
    assert {"already_checked_out", "checkout_in_progress"} <= codes(checkout, "post", "409")
    holds = "/api/events/{event_id}/holds/"
    assert {"seat_unavailable", "limit_exceeded", "not_enough_seats"} <= codes(holds, "post", "409")
    assert codes(holds, "post", "403") >= {"not_admitted"}
    queue = "/api/events/{event_id}/queue/"
    assert {"sale_not_open", "sold_out", "sale_closed"} <= codes(queue, "post", "409")
    assert codes(queue, "post", "429") == {"rate_limited"}
    assert paths[queue]["post"]["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    assert codes("/api/auth/register/", "post", "409") == {"username_taken"}
    assert "invalid_credentials" in codes("/api/auth/token/", "post", "400")
    key = next(p for p in paths[checkout]["post"]["parameters"] if p["name"] == "Idempotency-Key")
    assert key["in"] == "header" and key["required"] is True and key["schema"]["maxLength"] == 255


def test_the_after_sale_answers_of_the_contract_are_described(api_client: APIClient) -> None:
    """Spot checks against API.md's "After the sale": check-in's refusals
    (the permission class's 403 ``forbidden`` among them), the cancellation's
    409s, the PDF's own media type and the new fields."""
    schema = _schema(api_client)
    paths, components = schema["paths"], schema["components"]["schemas"]

    def error(path: str, method: str, status: str) -> dict[str, Any]:
        return paths[path][method]["responses"][status]["content"]["application/json"]["schema"]

    checkin = "/api/checkin/"
    assert "forbidden" in error(checkin, "post", "403")["properties"]["error"]["enum"]
    assert error(checkin, "post", "404")["properties"]["error"]["enum"] == ["not_found"]
    scan_refused = error(checkin, "post", "409")
    assert {"already_checked_in", "ticket_void", "wrong_event"} <= set(scan_refused["properties"]["error"]["enum"])
    assert {"checked_in_at", "checked_in_by", "seat", "ticket_event"} <= set(scan_refused["properties"])
    cancel = "/api/orders/{order_id}/cancel/"
    assert {"cancel_closed", "already_checked_in"} <= set(error(cancel, "post", "409")["properties"]["error"]["enum"])
    assert error(cancel, "post", "404")["properties"]["error"]["enum"] == ["not_found"]
    pdf = paths["/api/tickets/{ticket_id}/pdf/"]["get"]["responses"]
    assert set(pdf["200"]["content"]) == {"application/pdf"}
    assert set(pdf["404"]["content"]) == {"application/json"}
    assert components["Event"]["properties"]["cancel_until"]["nullable"] is True
    assert components["Ticket"]["properties"]["status"]["enum"] == ["valid", "checked_in", "void"]
    assert "checked_in_at" in components["Ticket"]["properties"]
    assert "refunds" in components["Order"]["properties"]


def test_the_fair_opening_answers_of_the_contract_are_described(api_client: APIClient) -> None:
    """Spot checks against API.md's "Fair opening": the ``pre_queue`` state
    with its own fields, ``entry`` in the later states, the two draw
    endpoints (no login, 404 without a pre-queue, 409 ``draw_pending``, the
    list's ``ETag`` and 304) and the event's ``prequeue_opens_at``."""
    schema = _schema(api_client)
    paths, components = schema["paths"], schema["components"]["schemas"]

    def codes(path: str, status: str) -> list[str]:
        response = paths[path]["get"]["responses"][status]
        return response["content"]["application/json"]["schema"]["properties"]["error"]["enum"]

    pre_queue = components["PreQueueState"]
    assert set(pre_queue["required"]) == {"state", "opens_at", "waiting_total", "entry", "ws"}
    assert pre_queue["properties"]["state"]["enum"] == ["pre_queue"]
    assert "entry" in components["QueueState"]["properties"]
    assert "entry" not in components["QueueState"]["required"]
    for method in ("get", "post"):
        answer = paths["/api/events/{event_id}/queue/"][method]["responses"]["200"]["content"]["application/json"]
        assert answer["schema"] == {"$ref": "#/components/schemas/AnyQueueState"}
    draw, entries = "/api/events/{event_id}/draw/", "/api/events/{event_id}/draw/entries/"
    for path in (draw, entries):
        assert paths[path]["get"]["security"] == [{}], path
        assert "401" not in paths[path]["get"]["responses"], path
        assert codes(path, "404") == ["not_found"], path
    record = components["DrawRecord"]["oneOf"]
    assert [components[ref["$ref"].rsplit("/", 1)[1]]["properties"]["state"]["enum"] for ref in record] == [
        ["pending"],
        ["drawn"],
    ]
    assert codes(entries, "409") == ["draw_pending"]
    listed = paths[entries]["get"]["responses"]
    assert listed["200"]["content"]["application/json"]["schema"]["type"] == "array"
    assert listed["200"]["headers"]["ETag"]["required"] is True and "304" in listed
    assert any(p["name"] == "If-None-Match" for p in paths[entries]["get"]["parameters"])
    assert components["Event"]["properties"]["prequeue_opens_at"]["nullable"] is True


def test_schema_and_docs_need_no_login_and_ignore_a_bad_token() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    assert client.get("/api/schema/", HTTP_ACCEPT="application/json").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_the_docs_page_loads_everything_from_our_own_static_files(api_client: APIClient) -> None:
    """Swagger UI from the sidecar package; and no schema validator badge,
    which would send the description to validator.swagger.io."""
    page = api_client.get("/api/docs/").content.decode()

    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(source.startswith("/static/drf_spectacular_sidecar/") for source in sources), sources
    assert not re.search(r"https?://", page)
    assert '"validatorUrl": null' in page
