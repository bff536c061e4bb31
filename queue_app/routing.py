"""WebSocket routes of the waiting queue."""

websocket_urlpatterns: list = []
