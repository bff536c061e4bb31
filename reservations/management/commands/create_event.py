"""``manage.py create_event``: an event with its seat map; prints ``{"id": N}`` last."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import Invalid
from reservations.services import event_create


class Command(BaseCommand):
    help = "Create an event with its seat map, e.g. --sections A:10x20:R:150000,B:5x10:S:90000"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--sections", required=True, help="NAME:ROWSxSEATS:GRADE:PRICE[,...]")
        parser.add_argument("--venue", default="Main Stadium")
        parser.add_argument("--opens-in", type=float, default=0, help="Seconds until the sale opens (0: now).")
        parser.add_argument("--batch", type=int)
        parser.add_argument("--interval", type=int)
        parser.add_argument("--cap", type=int)
        parser.add_argument("--max-per-user", type=int)
        parser.add_argument("--hold-seconds", type=int)
        parser.add_argument("--admission-seconds", type=int)
        parser.add_argument(
            "--arrival-seconds", type=int, help="Seconds an admitted person has to open the seat map (0: no limit)."
        )
        parser.add_argument(
            "--challenge-bits", type=int, help="Proof of work asked at a first join, in zero bits (0: none)."
        )
        parser.add_argument(
            "--cancel-hours",
            type=float,
            help="Buyers may cancel their orders until this many hours before the event starts (default: never).",
        )
        parser.add_argument(
            "--prequeue-minutes",
            type=float,
            default=0,
            help="Open a pre-queue this many minutes before the sale; a random draw places its entries (0: none).",
        )
        parser.add_argument("--currency", default="KRW")
        parser.add_argument("--no-queue", action="store_true", help="Admit every logged-in user at once.")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("batch", "interval", "cap", "max_per_user", "hold_seconds", "admission_seconds"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("arrival_seconds", "challenge_bits"):
            if options[name] is not None and options[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} must not be negative")
        for name in ("opens_in", "prequeue_minutes"):
            if options[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} must not be negative")
        if options["cancel_hours"] is not None and not 0 <= options["cancel_hours"] < 24 * 366:
            raise CommandError("--cancel-hours must be between 0 and a year (8784)")
        try:
            event = event_create(
                name=options["name"],
                venue_name=options["venue"],
                sections=options["sections"],
                opens_in=options["opens_in"],
                currency=options["currency"],
                queue_enabled=not options["no_queue"],
                batch=options["batch"],
                interval=options["interval"],
                cap=options["cap"],
                max_per_user=options["max_per_user"],
                hold_seconds=options["hold_seconds"],
                admission_seconds=options["admission_seconds"],
                arrival_seconds=options["arrival_seconds"],
                challenge_bits=options["challenge_bits"],
                cancel_hours=options["cancel_hours"],
                prequeue_minutes=options["prequeue_minutes"],
            )
        except Invalid as exc:
            fields = exc.extra.get("fields", {})
            reasons = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())
            raise CommandError(f"{exc.detail} {reasons}".strip()) from None
        self.stdout.write(json.dumps({"id": event.id}))
