"""The queue's answers to booking's signals (connected in ``QueueAppConfig.ready``)."""

from __future__ import annotations

from typing import Any

from queue_app.admission import admission_end


def order_paid_admission_end(sender: Any, *, event: Any, user_id: int, **kwargs: Any) -> None:
    """A buyer who has paid gives their place back at once: the next round
    admits the next person. An event without a queue has no places to give."""
    if event.queue_enabled:
        admission_end(event_id=event.id, user_id=user_id)
