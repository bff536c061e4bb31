"""The booking side's counters (``/metrics``, summed over every process; ``core.metrics``).

``result`` and ``outcome`` labels are bounded: a success word, or an error
code of the booking catalogue (``reservations/errors.py``).
"""

from __future__ import annotations

from core.metrics import counter

#: ``checkout.payment_reconcile``'s outcomes, each shown at 0 before its first.
RECONCILE_OUTCOMES = (
    "completed",
    "failed",
    "voided",
    "void_failed",
    "refunded",
    "refund_failed",
    "settled",
    "gateway_unavailable",
)

holds_total = counter(
    "ticketing_holds",
    "Hold attempts by result: held, or the refusal's error code.",
    ["result"],
    initial=("held", "seat_unavailable", "not_enough_seats", "limit_exceeded"),
)
checkouts_total = counter(
    "ticketing_checkouts",
    "Checkouts by result: paid, replayed (a key seen before), or the refusal's error code (payment_declined, ...).",
    ["result"],
    initial=("paid", "payment_declined", "payment_unavailable", "hold_expired"),
)
confirmations_total = counter(
    "ticketing_confirmations",
    "Confirmation e-mail attempts by result: sent, retry (failed, tried again later), failed (gave up).",
    ["result"],
    initial=("sent", "retry", "failed"),
)
payments_reconciled = counter(
    "ticketing_payments_reconciled",
    "Payments settled by the reconciliation job, by outcome.",
    ["outcome"],
    initial=RECONCILE_OUTCOMES,
)
gateway_failures = counter(
    "ticketing_payment_gateway_failures",
    "Void and refund calls the gateway failed, by action.",
    ["action"],
    initial=("void", "refund"),
)
