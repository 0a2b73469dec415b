"""The operator's event loop: how late it runs (`camfleet_event_loop_lag_seconds`), and a garbage collector
that does not stall it.

Everything the operator does shares one event loop: the access decision endpoint, the admission webhooks,
Events, expiries. A blocking call or a long garbage collection delays all of them at once; the probe measures
that delay as the lateness of a timer (a task that sleeps `interval` seconds wakes up `lag` seconds late).

Python's cyclic collector, left alone, now and then walks every container object of the heap: with 10,000
grants loaded (their specs, cameras and verified tokens) that is a pause of 100 ms and more in the middle of
some request. `watch_event_loop` makes those walks small: every `SETTLE_EVERY` seconds `settle_heap` collects
what is not frozen (what was allocated since the last settle: a few milliseconds) and moves the survivors into
the permanent generation (`gc.freeze`), which collections skip; the thresholds leave young collections as they
are (small and frequent) and leave full collections to that schedule. Frozen objects are still freed by
reference counting; only garbage *cycles* among them wait for the deliberate full collection (unfreeze,
collect, freeze), one pause that the histogram shows: every `FULL_COLLECTION_EVERY` seconds, and sooner once the
allocated memory has grown by `FULL_COLLECTION_GROWTH` (a busy operator freezes much that dies in cycles soon after).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Callable

from camfleet.observability.metrics import EVENT_LOOP_LAG

log = logging.getLogger(__name__)

PROBE_INTERVAL = 0.25
"""Seconds between two probes: a stall shorter than this may fall between them, a longer one never does."""
SETTLE_EVERY = 1.0
"""Seconds between two `settle_heap` calls. Each collects only what survived since the last one and freezes it,
so its pause grows with the interval: under 1,000 new tokens a second, 10 s made it 30 ms and a minute 100 ms;
a second keeps it near a young collection's, and costs next to nothing when the operator is idle."""
FULL_COLLECTION_EVERY = 6 * 3600.0
"""Seconds between two deliberate full collections of everything, frozen objects included, at the latest."""
FULL_COLLECTION_GROWTH = 1.5
"""A full collection also runs once the allocated memory blocks (`sys.getallocatedblocks()`: cheap, where
`gc.get_freeze_count()` walks every frozen object, 44 ms at 4 million) have grown by this factor since the last
one: a settle freezes whatever is alive at that moment, in-flight requests and watch events included, and what of
it later dies in a reference cycle is freed only by a full collection. A busy operator (a fleet's start: thousands
of device passes, status writes and watch events in flight at every settle) otherwise kept that garbage for hours."""
FULL_COLLECTION_MIN_SECONDS = 60.0
"""Growth alone never makes full collections more frequent than this (each pauses the loop for the whole heap)."""
GC_THRESHOLDS = (1_000, 10, 1_000)
"""Net new container objects before a young collection (Python's default: 700); young collections per
middle-generation one (default 10); middle collections per automatic full one (default 10, which with a large
heap means a long pause every few seconds under load; 1,000 leaves full collections to `settle_heap`)."""


def tune_garbage_collector(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Young collections as small as Python's, automatic full ones rare; call once at start."""
    gc.set_threshold(*thresholds)


def full_collection_due(
    elapsed: float, blocks: int, blocks_after_last_full: int, every: float = FULL_COLLECTION_EVERY
) -> bool:
    """Whether a settle should collect everything: `elapsed` seconds since the last full collection, `blocks`
    allocated now, `blocks_after_last_full` right after it; at the latest `every` seconds after the last one."""
    if elapsed >= every:
        return True
    return elapsed >= FULL_COLLECTION_MIN_SECONDS and blocks >= FULL_COLLECTION_GROWTH * blocks_after_last_full


def settle_heap(full: bool = False) -> float:
    """Collect what is not frozen (with `full`, everything), then freeze what survived so that later collections
    skip it. Returns the seconds it took."""
    started = time.perf_counter()
    if full:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started


async def probe_lag(
    interval: float = PROBE_INTERVAL, observe: Callable[[float], None] = EVENT_LOOP_LAG.observe
) -> None:
    """Observe, every `interval`, how much later than asked the loop woke this task up. Runs until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        observe(max(0.0, loop.time() - due))


async def watch_event_loop(
    interval: float = PROBE_INTERVAL,
    settle_every: float = SETTLE_EVERY,
    full_collection_every: float = FULL_COLLECTION_EVERY,
) -> None:
    """The operator's task: the lag probe, plus the collector's schedule (freeze survivors every `settle_every`
    seconds, a full collection when `full_collection_due`). Runs until cancelled."""
    tune_garbage_collector()
    probe = asyncio.create_task(probe_lag(interval), name="event loop lag probe")
    try:
        loop = asyncio.get_running_loop()
        last_full, after_full = loop.time(), sys.getallocatedblocks()
        while True:
            await asyncio.sleep(settle_every)
            elapsed = loop.time() - last_full
            blocks = sys.getallocatedblocks() if elapsed >= FULL_COLLECTION_MIN_SECONDS else 0
            full = full_collection_due(elapsed, blocks, after_full, full_collection_every)
            took = settle_heap(full=full)
            if full:
                last_full, after_full = loop.time(), sys.getallocatedblocks()
                log.info("full garbage collection: %.3f s, %d memory blocks allocated before, %d after", took, blocks,
                         after_full)  # fmt: skip
    finally:
        probe.cancel()
