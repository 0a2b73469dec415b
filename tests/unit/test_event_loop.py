"""The event-loop watch: a stall shows in camfleet_event_loop_lag_seconds; the collector's schedule freezes
survivors and keeps collecting garbage cycles; audit records leave the request path and still all arrive."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import logging
import time
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from camfleet.observability.audit import BackgroundLineHandler, audit
from camfleet.observability.event_loop import (
    FULL_COLLECTION_EVERY,
    FULL_COLLECTION_MIN_SECONDS,
    GC_THRESHOLDS,
    full_collection_due,
    probe_lag,
    settle_heap,
    watch_event_loop,
)


def lag_samples() -> tuple[float, float]:
    """(observations, those above 0.25 s) of the operator's histogram so far."""
    count = REGISTRY.get_sample_value("camfleet_event_loop_lag_seconds_count") or 0.0
    fast = REGISTRY.get_sample_value("camfleet_event_loop_lag_seconds_bucket", {"le": "0.25"}) or 0.0
    return count, count - fast


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


async def test_a_blocking_call_on_the_loop_shows_in_the_histogram(restore_gc: None) -> None:
    before, slow_before = lag_samples()
    watch = asyncio.create_task(watch_event_loop(interval=0.02))
    await asyncio.sleep(0.1)  # a few probes at rest
    calm, slow_at_rest = lag_samples()
    time.sleep(0.5)  # noqa: ASYNC251 - a deliberate stall: blocks the loop, as a sync call or a long collection would
    await asyncio.sleep(0.1)
    after, slow_after = lag_samples()
    watch.cancel()

    assert calm > before, "the probe observes while nothing happens"
    assert slow_at_rest == slow_before, "an idle loop is not late by 250 ms"
    assert after > calm
    assert slow_after == slow_at_rest + 1, "the stall is one late wake-up of more than 0.25 s"
    assert gc.get_threshold() == GC_THRESHOLDS


async def test_the_probe_measures_the_lateness_itself() -> None:
    seen: list[float] = []
    probe = asyncio.create_task(probe_lag(0.01, seen.append))
    await asyncio.sleep(0.03)
    time.sleep(0.2)  # noqa: ASYNC251 - the stall to measure
    await asyncio.sleep(0.03)
    probe.cancel()
    assert 0.19 <= max(seen) < 0.5
    assert min(seen) < 0.05


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settle_heap_collects_cycles_then_freezes_the_survivors(restore_gc: None) -> None:
    kept = [Cycle() for _ in range(100)]
    garbage = Cycle()
    del garbage
    collected: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            collected.append(info["collected"])

    gc.callbacks.append(count)
    try:
        settle_heap()
    finally:
        gc.callbacks.remove(count)
    assert sum(collected) >= 2, "the unreachable cycle (object and its __dict__) is freed before freezing"
    assert gc.get_freeze_count() >= len(kept)
    took = settle_heap(full=True)
    assert took >= 0
    assert gc.get_freeze_count() >= len(kept)


def test_garbage_cycles_frozen_while_alive_are_freed_by_a_full_collection(restore_gc: None) -> None:
    in_flight = [Cycle() for _ in range(1_000)]  # alive at a settle, as a request or a watch event in flight is
    settle_heap()
    frozen = gc.get_freeze_count()
    del in_flight  # they die in cycles: reference counting cannot free them, and frozen objects are not collected
    settle_heap()
    assert gc.get_freeze_count() >= frozen - 10
    settle_heap(full=True)
    assert gc.get_freeze_count() <= frozen - 1_000


def test_a_full_collection_comes_when_the_heap_has_grown_by_half_but_not_more_than_once_a_minute() -> None:
    assert not full_collection_due(10.0, 1_000_000, 1_000_000)
    assert not full_collection_due(FULL_COLLECTION_MIN_SECONDS - 1, 2_000_000, 1_000_000)
    assert full_collection_due(FULL_COLLECTION_MIN_SECONDS, 1_500_000, 1_000_000)
    assert not full_collection_due(3600.0, 1_400_000, 1_000_000)
    assert full_collection_due(FULL_COLLECTION_EVERY, 1_000_000, 1_000_000)


def test_audit_lines_are_written_off_the_caller_thread_and_all_arrive() -> None:
    stream = io.StringIO()
    handler = BackgroundLineHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("camfleet.audit")
    log.addHandler(handler)
    level, log.level = log.level, logging.INFO
    try:
        for number in range(500):
            audit("GatewayAccess", f"Camera ns/cam-{number}", "allowed", "test")
        handler.flush()
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        handler.close()
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["object"] for line in lines] == [f"Camera ns/cam-{n}" for n in range(500)]


class CountedWrites(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[float] = []

    def write(self, text: str) -> int:
        self.writes.append(time.monotonic())
        return super().write(text)


def test_the_audit_writer_batches_under_load_and_writes_a_lone_record_at_once() -> None:
    """At a decision rate of 2,000 a second the writer thread wakes a few times a second, not per record (each
    wake-up would take the interpreter lock from the event loop); a record after a quiet spell still reaches the
    log within milliseconds, without anyone flushing."""
    stream = CountedWrites()
    handler = BackgroundLineHandler(stream, write_every=0.05)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("camfleet.audit.batching")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("lone record")
        deadline = time.monotonic() + 1
        while not stream.writes and time.monotonic() < deadline:
            time.sleep(0.001)
        assert stream.getvalue() == "lone record\n", "written without a flush"
        time.sleep(0.1)
        stream.writes.clear()
        started = time.monotonic()
        for number in range(1000):  # 0.5 s at 2,000 records a second
            log.warning("record %d", number)
            time.sleep(0.0005)
        took = time.monotonic() - started
        handler.flush()
    finally:
        log.removeHandler(handler)
        handler.close()
    assert stream.getvalue().splitlines()[1:] == [f"record {n}" for n in range(1000)]
    assert len(stream.writes) <= took / 0.05 + 2, f"{len(stream.writes)} writes in {took:.2f} s"
