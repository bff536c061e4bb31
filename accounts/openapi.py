"""The accounts API's shapes and its token scheme for the OpenAPI description (``core.openapi``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers

from core.openapi import ErrorDoc


class TokenScheme(OpenApiAuthenticationExtension):
    """``Authorization: Token <token>`` (knox's scheme, from our cached authentication class)."""

    target_class = "accounts.authentication.CachedTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>`, the token from `/api/auth/register/` or `/api/auth/token/`.",
        }


class RegisteredSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    token = serializers.CharField()


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


USERNAME_TAKEN = ErrorDoc(409, "username_taken", "That username is already taken.")
INVALID_CREDENTIALS = ErrorDoc(400, "invalid_credentials", "Unable to log in with those credentials.")
