"""ASGI entry point ``ticketing.asgi:application``: HTTP and WebSocket.

HTTP: the queue's token-authenticated join and state reads
(``queue_app.fastpath``) and holds and checkouts (``reservations.fastpath``)
are served on the event loop; everything else goes to Django, whose
per-request sync threads come from a pool (``core.asgi_handler``).
In front of all of them ``core.http_observe`` gives each request its id
(``X-Request-ID``) and times it for ``/metrics``. Lifespan: each worker
process measures its event loop's lag (``core.loop_lag``), which
admission's controller follows, listens for token revocations so that it may
keep its own copies of token entries (``accounts.tokens``), and drops its
live gauges when it stops.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")

from core.asgi_handler import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from accounts.tokens import token_revocations_listen  # noqa: E402
from accounts.ws_auth import handshake_user  # noqa: E402
from core.http_observe import http_observe_wrap  # noqa: E402
from core.lifespan import BackgroundLifespan  # noqa: E402
from core.loop_lag import loop_lag_probe  # noqa: E402
from core.metrics import MetricsLifespan  # noqa: E402
from core.ws_gate import WebSocketGate  # noqa: E402
from queue_app.fastpath import queue_fast_path_wrap  # noqa: E402
from queue_app.routing import websocket_urlpatterns as queue_sockets  # noqa: E402
from reservations.fastpath import booking_fast_path_wrap  # noqa: E402
from reservations.routing import websocket_urlpatterns as seat_sockets  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": http_observe_wrap(booking_fast_path_wrap(queue_fast_path_wrap(django_asgi_app))),
        "websocket": WebSocketGate([*queue_sockets, *seat_sockets], user_lookup=handshake_user),
        "lifespan": MetricsLifespan(BackgroundLifespan(loop_lag_probe, token_revocations_listen)),
    }
)
