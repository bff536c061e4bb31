"""Booking's own signal receivers (connected in ``ReservationsConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from reservations.models import Event, PriceGrade
from reservations.selectors import event_cache_forget


@receiver(post_save, sender=Event, dispatch_uid="reservations.event_saved")
@receiver(post_delete, sender=Event, dispatch_uid="reservations.event_deleted")
def event_changed(sender: type, instance: Event, **kwargs: Any) -> None:
    """A saved or deleted event leaves this process's booking cache at once."""
    event_cache_forget(event_id=instance.pk)


@receiver(post_save, sender=PriceGrade, dispatch_uid="reservations.grade_saved")
@receiver(post_delete, sender=PriceGrade, dispatch_uid="reservations.grade_deleted")
def grade_changed(sender: type, instance: PriceGrade, **kwargs: Any) -> None:
    """The booking cache holds the event's grades too: a changed grade drops the event."""
    event_cache_forget(event_id=instance.event_id)
