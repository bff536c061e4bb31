"""The long-lived heap kept out of the cyclic garbage collector's way.

A web or Celery worker process imports Django, the apps, their URL patterns,
serializers and templates once, and keeps them for its whole life: tens of
thousands of container objects that every full collection walks again,
though none of them can ever be garbage. ``perf`` on the booking benchmark
found ``gc_collect_main`` and its visitors at 3-4 % of each web worker's CPU
and about a tenth of the Celery worker's. ``gc.freeze`` moves everything
alive at start-up into a permanent generation that collections skip; what
requests and tasks allocate afterwards is collected as before.
"""

from __future__ import annotations

import gc


def heap_freeze() -> None:
    """Collect once, then freeze what survives (call once a process has
    loaded what it serves with)."""
    gc.collect()
    gc.freeze()
