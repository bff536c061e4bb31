"""Work many requests on one event loop ask for, done once a tick for all.

Some of what a fast-path request asks for may lag a fraction of a second:
counting its latency for admission, asking the mail worker to send what
is pending. Done per request, each is a Redis round trip: a socket write
and a wake-up of Redis, which on this machine cost more web CPU than the
command itself (``bench/orders.py``). A ``LoopBatch`` collects the items
its callers add on each event loop and one task hands them to ``flush``
every ``seconds`` for as long as callers keep adding; when a tick finds
nothing new the task ends, and the next ``add`` starts another. An item
added while ``flush`` runs goes out with the next tick, never lost
between two; items a process dies holding are lost, which is why only
work that something else catches up on (a sweep, the next second's
counts) belongs here.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class _LoopState(Generic[T]):
    """One event loop's items not yet flushed, and the task that flushes them."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self.task: asyncio.Task | None = None


class LoopBatch(Generic[T]):
    """Items from any number of callers, handed to ``flush`` together once a tick per event loop."""

    def __init__(self, seconds: float, flush: Callable[[list[T]], Awaitable[None]]) -> None:
        self.seconds = seconds
        self.flush = flush
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState[T]] = weakref.WeakKeyDictionary()

    def add(self, item: T) -> None:
        """Queue ``item`` for this loop's next flush (starting the flushing task if none runs)."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState()
        state.items.append(item)
        if state.task is None or state.task.done():
            state.task = loop.create_task(self._run(state))

    async def _run(self, state: _LoopState[T]) -> None:
        while state.items:
            await asyncio.sleep(self.seconds)
            items, state.items = state.items, []
            await self.flush(items)
