"""Booking's own signal receivers (connected in ``ReservationsConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from reservations.models import Event, PriceGrade, Seat
from reservations.seat_status import layout_forget
from reservations.selectors import event_cache_forget


@receiver(post_save, sender=Event, dispatch_uid="reservations.event_saved")
@receiver(post_delete, sender=Event, dispatch_uid="reservations.event_deleted")
def event_changed(sender: type, instance: Event, **kwargs: Any) -> None:
    """A saved or deleted event leaves this process's booking cache at once."""
    event_cache_forget(event_id=instance.pk)


@receiver(post_save, sender=PriceGrade, dispatch_uid="reservations.grade_saved")
@receiver(post_delete, sender=PriceGrade, dispatch_uid="reservations.grade_deleted")
def grade_changed(sender: type, instance: PriceGrade, **kwargs: Any) -> None:
    """The booking cache holds the event's grades too, and the seat layout
    their codes and prices: a changed grade drops both."""
    event_cache_forget(event_id=instance.event_id)
    layout_forget(event_id=instance.event_id)


@receiver(post_save, sender=Seat, dispatch_uid="reservations.seat_saved")
@receiver(post_delete, sender=Seat, dispatch_uid="reservations.seat_deleted")
def seat_changed(sender: type, instance: Seat, created: bool = True, **kwargs: Any) -> None:
    """A seat added, moved or removed (the admin; booking writes statuses in
    SQL, no signal) changes the layout."""
    update_fields = kwargs.get("update_fields")
    if update_fields is None or set(update_fields) - {"status", "hold", "held_until"}:
        layout_forget(event_id=instance.event_id)
