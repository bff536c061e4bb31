"""Payment gateway interface and the built-in test gateway.

The gateway is chosen by the ``PAYMENT_GATEWAY`` setting (a dotted path).
Every call carries an idempotency key: charging twice with one key returns
the first charge, so a retried checkout never charges twice. Checkout calls
the gateway only while it holds no row lock.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils.module_loading import import_string
from redis import Redis
from redis.commands.core import Script

from core.redis import get_async_redis, get_redis

TOKEN_OK, TOKEN_DECLINED, TOKEN_TIMEOUT, TOKEN_SLOW = "tok_ok", "tok_declined", "tok_timeout", "tok_slow"
TOKEN_CAPTURE_SLOW = "tok_capture_slow"  # noqa: S105 - a test card token, not a secret

#: What ``charge_status`` answers for a key the gateway knows.
CAPTURED, VOIDED, REFUNDED = "captured", "voided", "refunded"


class PaymentError(Exception):
    """Base of the gateway's failures."""


class PaymentDeclined(PaymentError):
    """The card was refused; nothing was charged."""


class PaymentUnavailable(PaymentError):
    """The gateway did not answer in time (or at all)."""


@dataclass(frozen=True)
class Charge:
    id: str
    amount: int
    currency: str


class PaymentGateway:
    """What checkout needs from a payment provider."""

    def charge(self, *, token: str, amount: int, currency: str, idempotency_key: str) -> Charge:
        """Capture ``amount``; the same ``idempotency_key`` never charges twice."""
        raise NotImplementedError

    async def charge_async(self, *, token: str, amount: int, currency: str, idempotency_key: str) -> Charge:
        """``charge`` for asyncio callers (the booking fast path). A gateway
        with an asyncio client overrides it; this one runs ``charge`` in a
        worker thread, so a slow provider never blocks the event loop."""
        return await sync_to_async(self.charge, thread_sensitive=False)(
            token=token, amount=amount, currency=currency, idempotency_key=idempotency_key
        )

    def void(self, *, idempotency_key: str) -> None:
        """Cancel (or refund) whatever the charge with this key captured; a no-op if none."""
        raise NotImplementedError

    def refund(self, *, idempotency_key: str, refund_key: str, amount: int) -> None:
        """Give back ``amount`` of the charge made with ``idempotency_key``
        after the sale (a cancelled order, refunded tickets). ``refund_key``
        is the refund's own idempotency key: the same key never refunds
        twice, so a retry after a crash or a timeout is safe. A no-op if the
        charge is unknown."""
        raise NotImplementedError

    def charge_status(self, *, idempotency_key: str) -> str | None:
        """What became of the charge with this key: ``captured``, ``voided``,
        ``refunded``, or None when nothing was ever charged with it. Reconciliation
        asks this after a crash, when nobody heard the charge's answer."""
        raise NotImplementedError


_CHARGE_LUA = (Path(__file__).resolve().parent / "testgw_charge.lua").read_text()
_charge_scripts: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _charge_script(client: Any) -> Any:
    """``testgw_charge.lua`` registered on ``client`` (a sync or an asyncio Redis client)."""
    script = _charge_scripts.get(client)
    if script is None:
        script = _charge_scripts[client] = client.register_script(_CHARGE_LUA)
    return script


class TestGateway(PaymentGateway):
    """A gateway that keeps its charges in Redis, for development and tests.

    ``tok_ok`` succeeds, ``tok_declined`` is refused, ``tok_timeout`` answers
    nothing for ``PAYMENT_TIMEOUT_SECONDS`` and then fails as unavailable,
    ``tok_slow`` succeeds after half of that time, ``tok_capture_slow``
    captures at once and answers after half of that time (the window in which
    a crash leaves a captured charge nobody heard about). The Redis hash
    ``testgw:charges`` maps each idempotency key to its charge, so tests and
    benchmarks can count what was captured, voided and refunded. The Redis
    set ``testgw:outage`` names the calls (``charge``, ``void``, ``refund``,
    ``status``) that fail as unavailable while they are in it: an outage of
    the provider, for the fault tests. The Redis hash ``testgw:delays`` maps
    ``void`` or ``refund`` to ``"BEFORE AFTER"`` seconds: the call waits
    BEFORE, acts, then waits AFTER before it answers; past
    ``PAYMENT_TIMEOUT_SECONDS`` in all, the caller's timeout ends it as
    unavailable (having acted or not, as a real timeout would). A refund
    leaves the charge ``captured`` until the refunds cover its amount, then
    ``refunded``; each refund is kept under its key in the charge's
    ``refunds``, and a key seen before changes nothing.
    """

    __test__ = False  # not a pytest class
    CHARGES_KEY = "testgw:charges"
    OUTAGE_KEY = "testgw:outage"
    DELAYS_KEY = "testgw:delays"

    def _available(self, call: str) -> None:
        if get_redis().sismember(self.OUTAGE_KEY, call):
            raise self._outage(call)

    @staticmethod
    def _outage(call: str) -> PaymentUnavailable:
        return PaymentUnavailable(f"The payment gateway is unavailable ({call}).")

    @staticmethod
    def _plan(token: str) -> tuple[float, float]:
        """What a card token does: (seconds before the capture, seconds after
        it); raises for the tokens that fail. One rule for both twins below."""
        timeout = float(settings.PAYMENT_TIMEOUT_SECONDS)
        if token == TOKEN_TIMEOUT:
            return timeout, -1.0
        if token == TOKEN_SLOW:
            return timeout / 2, 0.0
        if token == TOKEN_CAPTURE_SLOW:
            return 0.0, timeout / 2
        if token != TOKEN_OK:
            raise PaymentDeclined("The card was declined.")
        return 0.0, 0.0

    @staticmethod
    def _record(amount: int, currency: str) -> str:
        return json.dumps(
            {"id": f"ch_{secrets.token_hex(8)}", "amount": amount, "currency": currency, "status": CAPTURED}
        )

    def charge(self, *, token: str, amount: int, currency: str, idempotency_key: str) -> Charge:
        before, after = self._plan(token)
        time.sleep(before)
        if after < 0:
            raise PaymentUnavailable("The payment gateway did not answer in time.")
        stored = _charge_script(get_redis())(
            keys=[self.CHARGES_KEY, self.OUTAGE_KEY], args=[idempotency_key, self._record(amount, currency)]
        )
        time.sleep(after)
        return self._captured(stored)

    async def charge_async(self, *, token: str, amount: int, currency: str, idempotency_key: str) -> Charge:
        before, after = self._plan(token)
        if before:
            await asyncio.sleep(before)
        if after < 0:
            raise PaymentUnavailable("The payment gateway did not answer in time.")
        stored = await _charge_script(get_async_redis())(
            keys=[self.CHARGES_KEY, self.OUTAGE_KEY], args=[idempotency_key, self._record(amount, currency)]
        )
        if after:
            await asyncio.sleep(after)
        return self._captured(stored)

    def _captured(self, stored: bytes | None) -> Charge:
        """The charge the capture script answered; None: the outage set names ``charge``."""
        if stored is None:
            raise self._outage("charge")
        record = json.loads(stored)
        return Charge(id=record["id"], amount=record["amount"], currency=record["currency"])

    def _delayed(self, call: str, act: Callable[[], None]) -> None:
        """Run ``act`` as the gateway would with this call's ``testgw:delays``,
        ended by the caller's timeout (``PAYMENT_TIMEOUT_SECONDS``)."""
        self._available(call)
        raw = get_redis().hget(self.DELAYS_KEY, call)
        before, after = (float(part) for part in raw.split()) if raw else (0.0, 0.0)
        timeout = float(settings.PAYMENT_TIMEOUT_SECONDS)
        if before >= timeout:
            time.sleep(timeout)
            raise PaymentUnavailable(f"The payment gateway did not answer in time ({call}).")
        time.sleep(before)
        act()
        if before + after >= timeout:
            time.sleep(timeout - before)
            raise PaymentUnavailable(f"The payment gateway did not answer in time ({call}).")
        time.sleep(after)

    def void(self, *, idempotency_key: str) -> None:
        def act() -> None:
            redis = get_redis()
            raw = redis.hget(self.CHARGES_KEY, idempotency_key)
            if raw is not None:
                record = json.loads(raw)
                record["status"] = VOIDED
                redis.hset(self.CHARGES_KEY, idempotency_key, json.dumps(record))

        self._delayed("void", act)

    def refund(self, *, idempotency_key: str, refund_key: str, amount: int) -> None:
        def act() -> None:
            outcome = _refund_script(get_redis())(keys=[self.CHARGES_KEY], args=[idempotency_key, refund_key, amount])
            if outcome == b"too_much":
                raise PaymentDeclined("The refund is larger than what is left of the charge.")

        self._delayed("refund", act)

    def charge_status(self, *, idempotency_key: str) -> str | None:
        self._available("status")
        raw = get_redis().hget(self.CHARGES_KEY, idempotency_key)
        return None if raw is None else json.loads(raw)["status"]

    @classmethod
    def charges(cls) -> dict[str, dict]:
        """Every charge the test gateway holds, by idempotency key."""
        return {k.decode(): json.loads(v) for k, v in get_redis().hgetall(cls.CHARGES_KEY).items()}


#: The test gateway's refund, atomic in Redis: two refunds of one charge at
#: once (tickets refunded one by one) cannot lose each other's update.
_REFUND_LUA = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 'none' end
local charge = cjson.decode(raw)
if type(charge.refunds) ~= 'table' then charge.refunds = {} end
if charge.refunds[ARGV[2]] then return 'again' end
local amount = tonumber(ARGV[3])
local refunded = (charge.refunded or 0) + amount
if refunded > charge.amount then return 'too_much' end
charge.refunds[ARGV[2]] = amount
charge.refunded = refunded
if refunded == charge.amount then charge.status = 'refunded' end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(charge))
return 'ok'
"""


@lru_cache(maxsize=8)
def _refund_script(client: Redis) -> Script:
    return client.register_script(_REFUND_LUA)


@lru_cache(maxsize=4)
def _gateway(path: str) -> PaymentGateway:
    return import_string(path)()


def payment_gateway() -> PaymentGateway:
    return _gateway(settings.PAYMENT_GATEWAY)
