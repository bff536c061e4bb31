"""Account endpoints: ``/api/auth/register/``, ``/api/auth/token/`` and ``/api/auth/logout/``."""

from __future__ import annotations

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import get_authorization_header
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.openapi import INVALID_CREDENTIALS, USERNAME_TAKEN, RegisteredSerializer, TokenSerializer
from core.client_address import client_address
from core.errors import ApplicationError
from core.openapi import RATE_LIMITED, errors
from core.serializers import Text


class RegisterInput(serializers.Serializer):
    username = Text(max_length=150, validators=[UnicodeUsernameValidator()])
    password = Text(max_length=128, trim_whitespace=False)
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class TokenInput(serializers.Serializer):
    username = Text(max_length=150)
    password = Text(max_length=128, trim_whitespace=False)


class RegisterApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["accounts"],
        summary="Register",
        description="Every attempt counts against the client address's limit (`RATE_LIMIT_REGISTER`).",
        request=RegisterInput,
        examples=[
            OpenApiExample(
                "New account", value={"username": "alice", "password": "correct-horse-42"}, request_only=True
            )
        ],
        responses={201: RegisteredSerializer},
    )
    @errors(USERNAME_TAKEN, RATE_LIMITED)
    def post(self, request: Request) -> Response:
        services.account_attempt_check(kind="register", address=client_address(request))
        data = RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = services.user_register(**data.validated_data)
        return Response({"id": user.id, "username": user.username, "token": token}, status=status.HTTP_201_CREATED)


class TokenApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["accounts"],
        summary="Get an API token",
        description="Each login gets its own token, which expires. Limited per client address (`RATE_LIMIT_LOGIN`).",
        request=TokenInput,
        responses={200: TokenSerializer},
    )
    @errors(INVALID_CREDENTIALS, RATE_LIMITED)
    def post(self, request: Request) -> Response:
        services.account_attempt_check(kind="login", address=client_address(request))
        data = TokenInput(data=request.data)
        if not data.is_valid():
            raise ApplicationError("invalid_credentials", gettext_lazy("Username and password are required."))
        return Response({"token": services.token_obtain(**data.validated_data)})


class LogoutApi(APIView):
    """Revoke the token this request carries (``Authorization: Token``): it stops working at once."""

    @extend_schema(
        tags=["accounts"],
        summary="Revoke this token",
        request=None,
        responses={204: OpenApiResponse(description="The token no longer works.")},
    )
    def post(self, request: Request) -> Response:
        kind, _, token = get_authorization_header(request).decode("latin-1").partition(" ")
        if kind.lower() == "token" and token.strip():
            services.token_revoke(token=token.strip())
        return Response(status=status.HTTP_204_NO_CONTENT)
