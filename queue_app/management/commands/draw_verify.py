"""``manage.py draw_verify EVENT``: check a pre-queue draw from its public
answers alone (the seed against the commitment, the order of the entries),
here or on any deployment (``--url``); ``--entry`` says where an entry is."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from queue_app import selectors
from queue_app.draw import draw_problems


def _local(event_id: int) -> tuple[dict[str, Any], list[str] | None]:
    """The two public answers as this deployment gives them (the entries None before the draw)."""
    try:
        draw = selectors.draw_public_get(event_id=event_id)
        if draw["state"] != "drawn":
            return draw, None
        selectors.draw_entries_tag(event_id=event_id)
        return draw, json.loads(gzip.decompress(selectors.draw_entries_get(event_id=event_id)))
    except ApplicationError as exc:
        raise CommandError(exc.detail) from None


def _fetch(url: str) -> Any:
    if not url.startswith(("https://", "http://")):
        raise CommandError("--url must be an http(s) URL.")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - an http(s) URL, checked above
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise CommandError(f"{url} answered {exc.code}.") from None
    except (OSError, ValueError) as exc:
        raise CommandError(f"{url}: {exc}") from None


def _remote(base: str, event_id: int) -> tuple[dict[str, Any], list[str] | None]:
    root = f"{base.rstrip('/')}/api/events/{event_id}/draw/"
    draw = _fetch(root)
    return draw, (_fetch(root + "entries/") if draw.get("state") == "drawn" else None)


class Command(BaseCommand):
    help = "Check an event's pre-queue draw from its public answers (seed, commitment, order)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("event", type=int)
        parser.add_argument("--url", help="Check this deployment over HTTP (e.g. https://tickets.example) instead.")
        parser.add_argument("--entry", help="Also say where this entry was drawn.")

    def handle(self, *args: Any, **options: Any) -> None:
        event_id = options["event"]
        draw, entries = _remote(options["url"], event_id) if options["url"] else _local(event_id)
        if entries is None:
            raise CommandError(f"The draw of event {event_id} has not been made yet (it is made at the opening).")
        problems = draw_problems(draw, entries)
        if problems:
            raise CommandError(f"The draw of event {event_id} does not check out: {'; '.join(problems)}.")
        self.stdout.write(
            f"Draw of event {event_id} verified: {len(entries)} entries in {draw['algorithm']} order; "
            f"the seed matches the commitment {draw['commitment']}."
        )
        entry = options["entry"]
        if entry is not None:
            if entry not in entries:
                raise CommandError(f"Entry {entry} is not in the draw.")
            self.stdout.write(f"Entry {entry} is number {entries.index(entry) + 1} of {len(entries)}.")
