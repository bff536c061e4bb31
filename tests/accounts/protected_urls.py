"""A URL map with one endpoint under the project's default authentication and
permission settings (no endpoint of the accounts app itself needs a login),
so the 401 shapes are tested through the real DRF stack."""

from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class WhoAmI(APIView):
    def get(self, request: Request) -> Response:
        return Response({"id": request.user.id, "username": request.user.username})


urlpatterns = [
    path("", include("ticketing.urls")),
    path("api/test/whoami/", WhoAmI.as_view()),
]
