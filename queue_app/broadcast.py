"""One message per change to an event's waiting page, on the channels_redis
pub/sub layer: a group send is a single PUBLISH whatever the number of
listeners, and each ASGI process listens with one channel per event (see
``queue_app.hub``), not one per socket.

Messages are encoded once by the sender; ``queue_app.messages`` defines
them (a round, or a change of the sale's status sent on commit of that
change).
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from queue_app.messages import QueueMessage, ReplacedMessage, StatusMessage

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "queue.message"


def event_group(event_id: int) -> str:
    return f"queue.event.{event_id}"


def queue_broadcast(*, event_id: int, message: QueueMessage) -> None:
    """Publish ``message`` once to every process listening on the event."""
    text = message.encode()
    async_to_sync(get_channel_layer().group_send)(event_group(event_id), {"type": MESSAGE_TYPE, "text": text})


async def queue_socket_replaced_announce_async(*, event_id: int, connection: str) -> None:
    """Tell every process listening on the event that ``connection`` was
    replaced by a newer socket of the same person (its holder closes it)."""
    text = ReplacedMessage(connection=connection).encode()
    await get_channel_layer().group_send(event_group(event_id), {"type": MESSAGE_TYPE, "text": text})


def queue_status_announce(*, event_id: int, status: str) -> None:
    """Tell the waiting page that the sale's public status is now ``status``."""
    queue_broadcast(event_id=event_id, message=StatusMessage(status=status))
