"""One time-ordered queue for everything the operator must do later.

A city has thousands of cameras and grants; a timer task per object would cost
memory and wake-ups for nothing. Instead every key has at most one due time in a
heap, idle workers wait in line, and one timer per queue fires at the earliest due
time and hands each due key to one waiting worker: an idle pool of 50 device
workers wakes once per due key, not 50 times.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from camfleet.active_gate import ActiveGate
from camfleet.clock import Clock

K = TypeVar("K", bound=Hashable)
FIRST = float("-inf")  # the due time of `schedule_first`: before any clock reading


class DueQueue(Generic[K]):
    """Keys with due times. Rescheduling a key replaces its due time; `take()` waits for the next due key.

    A key being worked on (taken, not yet `done`) is never handed to a second worker; if it is
    rescheduled meanwhile, it is handed out again once the first worker is done.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock.monotonic
        self._heap: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._busy: set[K] = set()
        self._due_after_busy: dict[K, float] = {}
        self._counter = itertools.count()
        self._waiters: deque[asyncio.Future[K]] = deque()  # idle workers in take(), first come first served
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")  # the clock time the timer fires at
        clock.wake_on_jump(self._hand_out)  # a fake clock's advance() makes due keys due now, not after a real wait

    def now(self) -> float:
        return self._clock()

    def __len__(self) -> int:
        return len(self._due) + len(self._due_after_busy)

    def __contains__(self, key: object) -> bool:
        return key in self._due or key in self._due_after_busy

    def busy(self, key: K) -> bool:
        """Whether a worker is working on `key` now."""
        return key in self._busy

    def due_time(self, key: K) -> float | None:
        return self._due.get(key, self._due_after_busy.get(key))

    def schedule(self, key: K, at: float) -> None:
        """Set `key`'s due time, replacing any earlier or later one."""
        if key in self._busy:
            self._due_after_busy[key] = at
            return
        self._due[key] = at
        heapq.heappush(self._heap, (at, next(self._counter), key))
        if self._waiters:
            self._hand_out()

    def schedule_earlier(self, key: K, at: float) -> None:
        """Set `key`'s due time unless it is already due sooner."""
        current = self.due_time(key)
        if current is None or at < current:
            self.schedule(key, at)

    def schedule_first(self, key: K) -> None:
        """Make `key` due before every key scheduled at a time (first come, first served among such keys): for short
        work somebody is waiting on, which must not queue behind a backlog of long work (a fleet's first device
        passes)."""
        self.schedule_earlier(key, FIRST)

    def discard(self, key: K) -> None:
        self._due.pop(key, None)  # its heap entry is skipped as stale when it surfaces
        self._due_after_busy.pop(key, None)

    def done(self, key: K) -> None:
        """A worker finished `key`; a reschedule that arrived meanwhile now takes effect."""
        self._busy.discard(key)
        if key in self._due_after_busy:
            self.schedule(key, self._due_after_busy.pop(key))

    def _drop_stale_top(self) -> None:
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)

    def pop_due(self) -> K | None:
        """The earliest due key, marked busy, or None when nothing is due now."""
        self._drop_stale_top()
        if not self._heap or self._heap[0][0] > self._clock():
            return None
        _, _, key = heapq.heappop(self._heap)
        del self._due[key]
        self._busy.add(key)
        return key

    def next_due_in(self) -> float | None:
        """Seconds until the earliest entry (0 if overdue), None when empty."""
        self._drop_stale_top()
        if not self._heap:
            return None
        return max(0.0, self._heap[0][0] - self._clock())

    async def take(self) -> K:
        """Wait for the next due key and mark it busy; call `done(key)` when finished with it."""
        key = self.pop_due()
        if key is not None:
            return key
        waiter: asyncio.Future[K] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._arm_timer()
        try:
            return await waiter
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            if waiter.done() and not waiter.cancelled():  # handed a key as its worker was cancelled: it goes back
                self.done(waiter.result())
                self.schedule_earlier(waiter.result(), self.now())
            raise

    def _hand_out(self) -> None:
        """Give every due key to a waiting worker, one each, all at once; then arm the timer for the next due time."""
        while self._waiters:
            if self._waiters[0].done():  # its worker was cancelled
                self._waiters.popleft()
                continue
            key = self.pop_due()
            if key is None:
                break
            self._waiters.popleft().set_result(key)
        self._arm_timer()

    def _arm_timer(self) -> None:
        """One timer for the earliest due time while a worker waits; none otherwise."""
        due_in = self.next_due_in() if self._waiters else None
        if due_in is None:
            self._cancel_timer()
            return
        at = self._clock() + due_in
        if self._timer is not None and self._timer_at <= at:
            return  # already set to fire as soon (if it fires for a key since moved, it re-arms)
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(due_in, self._fire)
        self._timer_at = at

    def _fire(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        self._hand_out()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, float("inf")


async def serve(
    queue: DueQueue[K],
    work: Callable[[K], Awaitable[float | None]],
    failed: Callable[[K], float | None],
    *,
    workers: int,
    gate: ActiveGate,
) -> None:
    """Run `workers` workers over `queue` until cancelled, only while `gate` is open.

    `work(key)` returns the seconds until the key is due again (None: not again). `failed(key)` is called
    inside the `except` of an exception `work` raised (so it can log the traceback) and returns the retry
    delay; an exception never kills a worker. A key taken just as the gate closed goes back, due at once.
    """

    async def worker() -> None:
        while True:
            await gate.wait_open()
            key = await queue.take()
            if not gate.is_open:
                queue.done(key)
                queue.schedule_earlier(key, queue.now())
                continue
            delay: float | None
            try:
                delay = await work(key)
            except Exception:
                delay = failed(key)
            finally:
                queue.done(key)
            if delay is not None:
                queue.schedule_earlier(key, queue.now() + delay)

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
