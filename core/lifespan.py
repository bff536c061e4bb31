"""The ASGI ``lifespan`` protocol: each worker process's background tasks.

uvicorn sends ``lifespan.startup`` once per worker process, on the event loop
that will serve its requests, and ``lifespan.shutdown`` when it stops. Work
that must run for as long as the process serves (the event-loop lag probe,
the token revocation listener) starts here and is cancelled at shutdown.
Before it, the process's start-up heap is frozen (``core.heap``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from core.heap import heap_freeze


class BackgroundLifespan:
    """Start each of ``starters`` as a task at startup; cancel them at shutdown."""

    def __init__(self, *starters: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.starters = starters
        self.tasks: list[asyncio.Task] = []

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                heap_freeze()
                self.tasks = [asyncio.create_task(start()) for start in self.starters]
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in self.tasks:
                    task.cancel()
                for task in self.tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await send({"type": "lifespan.shutdown.complete"})
                return
