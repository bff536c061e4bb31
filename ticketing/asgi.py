"""ASGI entry point ``ticketing.asgi:application``: HTTP and WebSocket."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from queue_app.routing import websocket_urlpatterns  # noqa: E402
from ticketing.ws_gate import WebSocketGate  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WebSocketGate(websocket_urlpatterns),
    }
)
