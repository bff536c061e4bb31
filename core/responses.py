"""Responses more than one app sends."""

from __future__ import annotations

import gzip

from django.http import HttpRequest, HttpResponse


def stored_json_response(request: HttpRequest, gzipped: bytes, headers: dict[str, str]) -> HttpResponse:
    """A JSON body kept gzipped: sent as it is to a client that takes gzip,
    unpacked for one that does not."""
    takes_gzip = accepts_gzip(request)
    response = HttpResponse(gzipped if takes_gzip else gzip.decompress(gzipped), content_type="application/json")
    if takes_gzip:
        response["Content-Encoding"] = "gzip"
    response["Vary"] = "Accept-Encoding"
    for name, value in headers.items():
        response[name] = value
    return response


def not_modified_response(request: HttpRequest, headers: dict[str, str]) -> HttpResponse | None:
    """304 with ``headers`` when the request's ``If-None-Match`` names their
    ``ETag``, else None (the caller sends the body)."""
    if headers["ETag"] not in (tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")):
        return None
    response = HttpResponse(status=304)
    del response["Content-Type"]  # no body to describe (Django would name text/html)
    for name, value in {**headers, "Vary": "Accept-Encoding"}.items():
        response[name] = value
    return response


def wire_response(status: int, headers: dict[str, str], body: bytes) -> HttpResponse:
    """A response a fast path also writes (status, headers and bytes built
    once for both), as Django sends it."""
    headers = dict(headers)
    response = HttpResponse(body, status=status, content_type=headers.pop("Content-Type", None))
    if "Content-Type" not in headers and status == 304:
        del response["Content-Type"]  # no body to describe (Django would name text/html)
    for name, value in headers.items():
        response[name] = value
    return response


def accepts_gzip(request: HttpRequest) -> bool:
    """Whether the client takes a gzipped body (``Accept-Encoding``)."""
    return "gzip" in request.headers.get("Accept-Encoding", "").lower()
