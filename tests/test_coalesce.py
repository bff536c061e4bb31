"""core.coalesce.LoopBatch: many adds, one flush a tick; nothing added is lost."""

from __future__ import annotations

import asyncio

from core.coalesce import LoopBatch

TICK = 0.02


async def test_adds_of_one_tick_are_flushed_together_and_the_task_ends_when_idle():
    flushed: list[list[int]] = []

    async def flush(items: list[int]) -> None:
        flushed.append(items)

    batch: LoopBatch[int] = LoopBatch(TICK, flush)
    for item in range(5):
        batch.add(item)
    assert flushed == []  # nothing goes out before the tick
    await asyncio.sleep(TICK * 4)
    assert flushed == [[0, 1, 2, 3, 4]]
    batch.add(5)  # the first task has ended: this starts another
    await asyncio.sleep(TICK * 4)
    assert flushed == [[0, 1, 2, 3, 4], [5]]


async def test_an_item_added_while_a_flush_runs_goes_out_with_the_next_one():
    flushed: list[list[str]] = []
    flushing = asyncio.Event()
    release = asyncio.Event()

    async def flush(items: list[str]) -> None:
        flushed.append(items)
        flushing.set()
        await release.wait()

    batch: LoopBatch[str] = LoopBatch(TICK, flush)
    batch.add("before")
    await flushing.wait()
    batch.add("during")  # the kick's case: a sale committed after the flush read the batch
    release.set()
    await asyncio.sleep(TICK * 4)
    assert flushed == [["before"], ["during"]]
