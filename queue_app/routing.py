"""WebSocket routes of the waiting queue."""

from django.urls import path

from queue_app.consumers import QueueConsumer

websocket_urlpatterns: list = [
    path("ws/events/<int:event_id>/queue/", QueueConsumer.as_asgi(), name="ws-event-queue"),
]

#: So that ``reverse(..., urlconf="queue_app.routing")`` builds socket paths.
urlpatterns = websocket_urlpatterns
