"""WebSocket routes of booking: the seat page's push of new status versions."""

from django.urls import path

from reservations.seat_push import SeatConsumer

websocket_urlpatterns: list = [
    path("ws/events/<int:event_id>/seats/", SeatConsumer.as_asgi(), name="ws-event-seats"),
]

#: So that ``reverse(..., urlconf="reservations.routing")`` builds socket paths.
urlpatterns = websocket_urlpatterns
