"""``manage.py demo``: an admin account and a demo event to click through."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from reservations.models import Event
from reservations.services import event_create

DEMO_EVENT = "Demo Stadium Night"
DEMO_SECTIONS = "A:10x20:VIP:220000,B:15x25:R:150000,C:20x30:S:90000"


class Command(BaseCommand):
    help = "Create an admin account (admin/admin unless DEMO_ADMIN_PASSWORD is set) and a demo event."

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin")
        user_model = get_user_model()
        admin, created = user_model.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password(password)
            admin.save()
        event = Event.objects.filter(name=DEMO_EVENT).first()
        if event is None:
            event = event_create(
                name=DEMO_EVENT,
                venue_name="Olympic Stadium",
                sections=DEMO_SECTIONS,
                batch=20,
                interval=2,
                cap=200,
            )
        password_hint = "'admin'" if created and password == "admin" else "(as set when it was created)"  # noqa: S105
        self.stdout.write(
            f"Demo event #{event.id} {event.name!r} with {event.seats.count()} seats is on sale.\n"
            f"Admin: http://127.0.0.1:{os.environ.get('PORT', '8000')}/admin/ - log in as 'admin' "
            f"with password {password_hint}."
        )
