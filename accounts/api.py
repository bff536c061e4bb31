"""Account endpoints: ``/api/auth/register/``, ``/api/auth/token/`` and ``/api/auth/logout/``."""

from __future__ import annotations

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils.translation import gettext_lazy
from rest_framework import serializers, status
from rest_framework.authentication import get_authorization_header
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from core.client_address import client_address
from core.errors import ApplicationError


class RegisterInput(serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class TokenInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class RegisterApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        services.account_attempt_check(kind="register", address=client_address(request))
        data = RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = services.user_register(**data.validated_data)
        return Response({"id": user.id, "username": user.username, "token": token}, status=status.HTTP_201_CREATED)


class TokenApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        services.account_attempt_check(kind="login", address=client_address(request))
        data = TokenInput(data=request.data)
        if not data.is_valid():
            raise ApplicationError("invalid_credentials", gettext_lazy("Username and password are required."))
        return Response({"token": services.token_obtain(**data.validated_data)})


class LogoutApi(APIView):
    """Revoke the token this request carries (``Authorization: Token``): it stops working at once."""

    def post(self, request: Request) -> Response:
        kind, _, token = get_authorization_header(request).decode("latin-1").partition(" ")
        if kind.lower() == "token" and token.strip():
            services.token_revoke(token=token.strip())
        return Response(status=status.HTTP_204_NO_CONTENT)
