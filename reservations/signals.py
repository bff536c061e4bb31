"""Booking's domain signals, for the apps built around it (after pretix's ``order_paid``).

Sent once the change has committed, never inside the transaction: a receiver
sees the committed rows, and a receiver that fails cannot undo a sale.
"""

from __future__ import annotations

from django.dispatch import Signal

#: An order was paid. Keyword arguments: ``order_id``, ``event`` (the Event),
#: ``event_id``, ``user_id``.
order_paid = Signal()

#: Sold seats came back on sale: an order was cancelled by its buyer, or the
#: organizer refunded an order or tickets. Keyword arguments: ``event`` (the
#: Event), ``event_id``, ``order_id``, ``seat_ids``. A sold-out sale is open
#: again; the queue admits again.
seats_returned = Signal()
