"""The queue's answers to booking's signals (connected in ``QueueAppConfig.ready``)."""

from __future__ import annotations

from typing import Any

from queue_app.admission import admission_end
from queue_app.selectors import event_sale_snapshot_forget
from queue_app.services import admission_round_run


def order_paid_admission_end(sender: Any, *, event: Any, user_id: int, **kwargs: Any) -> None:
    """A buyer who has paid gives their place back at once: the next round
    admits the next person. An event without a queue has no places to give."""
    if event.queue_enabled:
        admission_end(event_id=event.id, user_id=user_id)


def seats_returned_sale_reopen(sender: Any, *, event: Any, **kwargs: Any) -> None:
    """Seats came back (a cancellation, a refund): a sold-out sale is open
    again. An admission round runs at once instead of on the next tick: it
    finds the sale on again, admits the next people for the seats now free
    and tells every waiting page (``resumed`` for the pages told
    ``sold_out``), and the state reads agree with it. This process's sale
    snapshot is dropped so its joins stop answering ``sold_out`` now."""
    event_sale_snapshot_forget(event_id=event.id)
    if event.queue_enabled:
        admission_round_run(event=event)
