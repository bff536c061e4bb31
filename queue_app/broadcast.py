"""One message per change to an event's waiting page, on the channels_redis
pub/sub layer: a group send is a single PUBLISH whatever the number of
listeners, and each ASGI process listens with one channel per event (see
``queue_app.hub``), not one per socket.

Messages are JSON text serialised once by the sender. Kinds:

- ``{"k": "round", ...}``: one admission round (see ``round_message``);
- ``{"k": "status", "st": "<public status>"}``: the sale changed state
  (paused, resumed, closed, sold out), sent on commit of that change.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "queue.message"


def event_group(event_id: int) -> str:
    return f"queue.event.{event_id}"


def queue_broadcast(*, event_id: int, payload: dict[str, Any]) -> None:
    """Publish ``payload`` once to every process listening on the event."""
    text = json.dumps(payload, separators=(",", ":"))
    async_to_sync(get_channel_layer().group_send)(event_group(event_id), {"type": MESSAGE_TYPE, "text": text})


def queue_status_announce(*, event_id: int, status: str) -> None:
    """Tell the waiting page that the sale's public status is now ``status``."""
    queue_broadcast(event_id=event_id, payload={"k": "status", "st": status})
