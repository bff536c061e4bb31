"""The booking side's counters (``/metrics``, summed over every process; ``core.metrics``).

``result`` and ``outcome`` labels are bounded: a success word, or an error
code of the booking catalogue (``reservations/errors.py``).
"""

from __future__ import annotations

from core.metrics import counter

holds_total = counter("ticketing_holds", "Hold attempts by result: held, or the refusal's error code.", ["result"])
checkouts_total = counter(
    "ticketing_checkouts",
    "Checkouts by result: paid, replayed (a key seen before), or the refusal's error code (payment_declined, ...).",
    ["result"],
)
confirmations_total = counter(
    "ticketing_confirmations",
    "Confirmation e-mail attempts by result: sent, retry (failed, tried again later), failed (gave up).",
    ["result"],
)
payments_reconciled = counter(
    "ticketing_payments_reconciled", "Payments settled by the reconciliation job, by outcome.", ["outcome"]
)
gateway_failures = counter(
    "ticketing_payment_gateway_failures", "Void and refund calls the gateway failed, by action.", ["action"]
)
