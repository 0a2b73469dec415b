from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from camfleet.scheduling import DueQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_keys_come_out_in_due_order_and_only_when_due() -> None:
    clock = FakeClock()
    queue: DueQueue[str] = DueQueue(clock)
    queue.schedule("b", 2.0)
    queue.schedule("a", 1.0)
    assert queue.pop_due() is None
    clock.now = 5.0
    assert [queue.pop_due(), queue.pop_due(), queue.pop_due()] == ["a", "b", None]


def test_rescheduling_replaces_the_due_time() -> None:
    clock = FakeClock()
    queue: DueQueue[str] = DueQueue(clock)
    queue.schedule("a", 1.0)
    queue.schedule("a", 10.0)
    clock.now = 5.0
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


def test_discarded_keys_never_come_out() -> None:
    queue: DueQueue[str] = DueQueue(FakeClock())
    queue.schedule("a", 0.0)
    queue.discard("a")
    assert queue.pop_due() is None
    assert "a" not in queue


async def test_take_wakes_when_a_key_is_scheduled() -> None:
    loop = asyncio.get_running_loop()
    queue: DueQueue[str] = DueQueue(loop.time)
    taker = asyncio.create_task(queue.take())
    await asyncio.sleep(0.01)
    queue.schedule("a", loop.time())
    assert await asyncio.wait_for(taker, 1) == "a"


@given(st.lists(st.tuples(st.sampled_from("abcde"), st.floats(0, 100)), max_size=40))
def test_each_key_comes_out_once_at_its_last_scheduled_time(plan: list[tuple[str, float]]) -> None:
    clock = FakeClock()
    queue: DueQueue[str] = DueQueue(clock)
    for key, at in plan:
        queue.schedule(key, at)
    clock.now = 1000.0
    out = []
    while (key := queue.pop_due()) is not None:
        out.append(key)
    assert sorted(out) == sorted({key for key, _ in plan})
    last = {key: at for key, at in plan}
    assert [last[k] for k in out] == sorted(last[k] for k in out)
