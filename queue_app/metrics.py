"""The queue's metrics: admissions counted as rounds make them, depths read
from Redis when Prometheus scrapes (never pushed per join)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from core.metrics import counter
from queue_app.selectors import queue_events_live
from queue_app.store import store_depths

logger = logging.getLogger(__name__)

admitted_total = counter("ticketing_admitted", "People admitted from the waiting queue, by event.", ["event"])


class QueueCollector(Collector):
    """``ticketing_queue_waiting{event}`` and ``ticketing_queue_admitted{event}``
    (admitted now, admission not yet lapsed) of every live queued event
    (``queue_events_live``): one query, then one Redis round trip of two
    commands per event, per scrape."""

    def describe(self) -> list:
        return []  # nothing read at registration; the families are built per scrape

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The two families; empty (and a warning) while PostgreSQL or Redis
        cannot be read, so the rest of the scrape still arrives."""
        try:
            event_ids = list(queue_events_live(now=timezone.now()).values_list("id", flat=True))
            depths = store_depths(event_ids=event_ids, now=time.time()) if event_ids else {}
        except (DatabaseError, RedisError) as exc:
            logger.warning("queue gauges not read: %s", exc.__class__.__name__)
            depths = {}
        waiting = GaugeMetricFamily("ticketing_queue_waiting", "People waiting in the event's queue.", labels=["event"])
        admitted = GaugeMetricFamily(
            "ticketing_queue_admitted", "People admitted to the event now (admission not lapsed).", labels=["event"]
        )
        for event_id, (in_line, in_shop) in depths.items():
            waiting.add_metric([str(event_id)], in_line)
            admitted.add_metric([str(event_id)], in_shop)
        yield waiting
        yield admitted
