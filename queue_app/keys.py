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


def meta_key(event_id: int) -> str:
    """Hash: round counter, leaves counter, measured rate, seats left, last admission time."""
    return f"q:{{{event_id}}}:meta"


def arrival_key(event_id: int) -> str:
    """Hash: user id -> the full admission's end, for an admitted person who
    has not arrived at the seat map yet (their active score is the arrival
    deadline meanwhile)."""
    return f"q:{{{event_id}}}:arrival"


def left_key(event_id: int) -> str:
    """List of ``"ordinal:seq"``: who left the waiting set since the last round."""
    return f"q:{{{event_id}}}:left"


def round_lock_key(event_id: int) -> str:
    """Lock held while one admission round of the event runs."""
    return f"q:{{{event_id}}}:round-lock"


def draw_lock_key(event_id: int) -> str:
    """Lock held while one runner writes the event's draw record."""
    return f"q:{{{event_id}}}:draw-lock"


def socket_key(event_id: int, user_id: int) -> str:
    """String: the connection id of the user's one waiting-page socket on the event."""
    return f"q:{{{event_id}}}:sock:{user_id}"


def challenge_key(event_id: int, challenge: str) -> str:
    """String ``"<user id>:<bits>"``: an issued join challenge, until used or expired."""
    return f"q:{{{event_id}}}:challenge:{challenge}"


def rounds_key(event_id: int) -> str:
    """List of JSON objects, newest first: the last rounds that admitted or let
    go of someone (the organizer's dashboard)."""
    return f"q:{{{event_id}}}:rounds"


def admitted_minutes_key(event_id: int) -> str:
    """Hash: unix minute -> people admitted in it (the dashboard's chart)."""
    return f"q:{{{event_id}}}:admitted-per-minute"


def drawn_key(event_id: int) -> str:
    """Sorted set: member = entry id, score = its drawn place (as in the
    waiting set): the draw's public list in order, read once to record it."""
    return f"q:{{{event_id}}}:drawn"


def entries_key(event_id: int) -> str:
    """Hash: user id -> the person's pre-queue entry id (taken until the draw,
    kept after it: the entry stays in every later queue state)."""
    return f"q:{{{event_id}}}:entries"


def idle_round_key(event_id: int) -> str:
    """String with a TTL: an idle event (nobody waiting or admitted) had its
    round this recently."""
    return f"q:{{{event_id}}}:idle_round"
