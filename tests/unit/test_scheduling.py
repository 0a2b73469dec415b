from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from camfleet.active_gate import ActiveGate
from camfleet.clock import SYSTEM_CLOCK, FakeClock
from camfleet.scheduling import DueQueue, serve


def test_keys_come_out_in_due_order_and_only_when_due() -> None:
    clock = FakeClock()
    queue: DueQueue[str] = DueQueue(clock)
    queue.schedule("b", 2.0)
    queue.schedule("a", 1.0)
    assert queue.pop_due() is None
    clock.advance(5.0)
    assert [queue.pop_due(), queue.pop_due(), queue.pop_due()] == ["a", "b", None]


def test_rescheduling_replaces_the_due_time() -> None:
    clock = FakeClock()
    queue: DueQueue[str] = DueQueue(clock)
    queue.schedule("a", 1.0)
    queue.schedule("a", 10.0)
    clock.advance(5.0)
    assert queue.pop_due() is None
    assert queue.next_due_in() == 5.0


def test_schedule_earlier_keeps_the_sooner_time() -> None:
    queue: DueQueue[str] = DueQueue(FakeClock())
    queue.schedule("a", 1.0)
    queue.schedule_earlier("a", 9.0)
    assert queue.due_time("a") == 1.0
    queue.schedule_earlier("a", 0.5)
    assert queue.due_time("a") == 0.5


def test_a_busy_key_is_not_handed_out_twice_and_its_reschedule_waits() -> None:
    clock = FakeClock()
    queue: DueQueue[str] = DueQueue(clock)
    queue.schedule("a", 0.0)
    assert queue.pop_due() == "a"
    queue.schedule("a", 0.0)  # e.g. the spec changed while the device was being configured
    assert queue.pop_due() is None
    queue.done("a")
    assert queue.pop_due() == "a"


def test_a_key_scheduled_first_comes_out_before_a_backlog_of_earlier_due_keys() -> None:
    clock = FakeClock()
    queue: DueQueue[str] = DueQueue(clock)
    for index in range(3):
        queue.schedule(f"first-pass-{index}", float(index))
    clock.advance(10.0)
    queue.schedule_first("status-only")
    queue.schedule_first("another")
    queue.schedule_earlier("another", 5.0)  # already due sooner: stays first
    taken = [queue.pop_due() for _ in range(6)]
    assert taken == ["status-only", "another", "first-pass-0", "first-pass-1", "first-pass-2", None]


def test_discarded_keys_never_come_out() -> None:
    queue: DueQueue[str] = DueQueue(FakeClock())
    queue.schedule("a", 0.0)
    queue.discard("a")
    assert queue.pop_due() is None
    assert "a" not in queue


async def test_take_wakes_when_a_key_is_scheduled() -> None:
    queue: DueQueue[str] = DueQueue(SYSTEM_CLOCK)
    taker = asyncio.create_task(queue.take())
    await asyncio.sleep(0.01)
    queue.schedule("a", SYSTEM_CLOCK.monotonic())
    assert await asyncio.wait_for(taker, 1) == "a"


@given(st.lists(st.tuples(st.sampled_from("abcde"), st.floats(0, 100)), max_size=40))
def test_each_key_comes_out_once_at_its_last_scheduled_time(plan: list[tuple[str, float]]) -> None:
    clock = FakeClock()
    queue: DueQueue[str] = DueQueue(clock)
    for key, at in plan:
        queue.schedule(key, at)
    clock.advance(1000.0)
    out = []
    while (key := queue.pop_due()) is not None:
        out.append(key)
    assert sorted(out) == sorted({key for key, _ in plan})
    last = {key: at for key, at in plan}
    assert [last[k] for k in out] == sorted(last[k] for k in out)


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_serve_works_keys_reschedules_them_and_survives_a_failing_key() -> None:
    queue: DueQueue[str] = DueQueue(SYSTEM_CLOCK)
    worked: list[str] = []
    failures: list[str] = []

    async def work(key: str) -> float | None:
        worked.append(key)
        if key == "broken":
            raise RuntimeError("bug")
        return 3600.0 if key == "again" else None

    def failed(key: str) -> float | None:
        failures.append(key)
        return None

    pool = asyncio.create_task(serve(queue, work, failed, workers=2, gate=ActiveGate()))
    for key in ("broken", "once", "again"):
        queue.schedule(key, SYSTEM_CLOCK.monotonic())
    await _settle()
    pool.cancel()
    assert sorted(worked) == ["again", "broken", "once"]
    assert failures == ["broken"]
    assert "again" in queue
    assert "once" not in queue
    assert "broken" not in queue


async def test_serve_does_nothing_while_the_gate_is_closed_and_catches_up_when_it_opens() -> None:
    queue: DueQueue[str] = DueQueue(SYSTEM_CLOCK)
    gate = ActiveGate()
    worked: list[str] = []

    async def work(key: str) -> None:
        worked.append(key)

    pool = asyncio.create_task(serve(queue, work, lambda key: None, workers=3, gate=gate))
    await _settle()  # the workers wait in take() with the gate open
    gate.pause()
    queue.schedule("during-the-pause", SYSTEM_CLOCK.monotonic())
    await _settle()
    assert worked == []
    assert "during-the-pause" in queue
    gate.resume()
    await _settle()
    pool.cancel()
    assert worked == ["during-the-pause"]


async def test_a_fake_clock_advance_wakes_a_waiting_taker_without_real_waiting() -> None:
    clock = FakeClock()
    queue: DueQueue[str] = DueQueue(clock)
    queue.schedule("expiry", 3600.0)  # an hour away on the fake clock
    taker = asyncio.create_task(queue.take())
    await _settle()
    assert not taker.done()
    clock.advance(3600.0)
    assert await asyncio.wait_for(taker, 0.5) == "expiry"


async def test_keys_due_together_are_worked_on_at_once_by_as_many_workers() -> None:
    queue: DueQueue[str] = DueQueue(SYSTEM_CLOCK)
    started: list[str] = []
    release = asyncio.Event()

    async def work(key: str) -> None:
        started.append(key)
        await release.wait()

    pool = asyncio.create_task(serve(queue, work, lambda key: None, workers=5, gate=ActiveGate()))
    await _settle()
    for index in range(5):
        queue.schedule(f"camera-{index}", SYSTEM_CLOCK.monotonic())
    await _settle()
    assert sorted(started) == [f"camera-{index}" for index in range(5)], "a worker waited for another's work"
    release.set()
    await _settle()
    pool.cancel()


class CountingQueue(DueQueue[str]):
    """Counts how often a worker or the queue's timer looked for a due key (each look is a wake-up)."""

    looks = 0

    def pop_due(self) -> str | None:
        self.looks += 1
        return super().pop_due()


async def test_an_idle_pool_wakes_one_worker_per_due_key_not_every_worker() -> None:
    queue = CountingQueue(SYSTEM_CLOCK)
    worked: list[str] = []

    async def work(key: str) -> None:
        worked.append(key)

    pool = asyncio.create_task(serve(queue, work, lambda key: None, workers=50, gate=ActiveGate()))
    await _settle()
    queue.looks = 0
    for index in range(10):
        queue.schedule(f"now-{index}", SYSTEM_CLOCK.monotonic())
        await _settle()
    for index in range(10):  # due a little later: the queue's timer, not the 50 workers, waits for them
        queue.schedule(f"soon-{index}", SYSTEM_CLOCK.monotonic() + 0.01 * (index + 1))
    await asyncio.sleep(0.2)
    pool.cancel()
    assert sorted(worked) == sorted([f"now-{i}" for i in range(10)] + [f"soon-{i}" for i in range(10)])
    # 50 workers each looking at every due time and every schedule made ~1,000 looks for these 20 keys
    assert queue.looks <= 4 * 20, f"{queue.looks} looks for 20 keys: idle workers woke for keys others took"


async def test_a_key_handed_to_a_worker_cancelled_before_it_ran_goes_to_another() -> None:
    queue: DueQueue[str] = DueQueue(SYSTEM_CLOCK)
    first = asyncio.create_task(queue.take())
    second = asyncio.create_task(queue.take())
    await _settle()
    queue.schedule("camera", SYSTEM_CLOCK.monotonic())  # handed to the first waiter, which has not resumed yet
    first.cancel()
    assert await asyncio.wait_for(second, 1) == "camera"
    assert queue.busy("camera")
