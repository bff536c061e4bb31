"""Redis key names of an event's queue. The ``{event_id}`` hash tag keeps one
event's keys in one Redis Cluster slot, so its Lua scripts stay atomic."""

from __future__ import annotations


def seq_key(event_id: int) -> str:
    """INCR counter: the join sequence number (strict FIFO, no clock skew)."""
    return f"q:{{{event_id}}}:seq"


def waiting_key(event_id: int) -> str:
    """Sorted set: member = user id, score = join sequence number."""
    return f"q:{{{event_id}}}:waiting"


def active_key(event_id: int) -> str:
    """Sorted set: member = user id, score = admission expiry (unix seconds)."""
    return f"q:{{{event_id}}}:active"
