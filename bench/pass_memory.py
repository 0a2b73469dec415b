"""Bytes a device pass leaves held in the operator per camera (issue 20, memory): the observation kept per camera
after a full pass and after a lean one, and the per-device ONVIF memory (`DeviceMemory`), by tracemalloc over N
simulated devices (`camfleet sim` in its own process).

    .venv/bin/python bench/pass_memory.py --cameras 200

Prints the figures; writes nothing to bench/RESULTS.md (quoted in its issue-20 sections by hand).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tracemalloc

from camfleet.devcluster.sim_process import SimProcess
from camfleet.sim.fleet import camera_ids
from device_pass import CONCURRENCY, Fleet
from report import ARTIFACTS


def held() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def measure(cameras: int) -> None:
    sim = SimProcess(log_path=ARTIFACTS / "sim-pass-memory.log", cameras=cameras)
    sim.start()
    try:
        ids = camera_ids(cameras)
        warm = Fleet(sim, ids[:5])  # imports, parsed WSDL and caches are not per camera: made before counting
        await asyncio.gather(*(warm.full(c, asyncio.Semaphore(CONCURRENCY)) for c in warm.ids))
        await asyncio.gather(*(warm.lean(c, asyncio.Semaphore(CONCURRENCY)) for c in warm.ids))
        fleet = Fleet(sim, ids)
        tracemalloc.start(1)
        base = held()
        await asyncio.gather(*(fleet.full(c, asyncio.Semaphore(CONCURRENCY)) for c in ids))
        after_full = held()
        fleet.observations.clear()
        without = held()
        observation, rest = (after_full - without) / cameras, (without - base) / cameras
        print(
            f"full passes: {(after_full - base) / cameras:,.0f} B per camera held: observation {observation:,.0f} B, "
            f"DeviceMemory and the rest {rest:,.0f} B"
        )
        await asyncio.gather(*(fleet.full(c, asyncio.Semaphore(CONCURRENCY)) for c in ids))
        await asyncio.gather(*(fleet.lean(c, asyncio.Semaphore(CONCURRENCY)) for c in ids))
        after_lean = held()
        fleet.observations.clear()
        print(f"lean passes: observation {(after_lean - held()) / cameras:,.0f} B per camera")
    finally:
        sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=200)
    asyncio.run(measure(parser.parse_args().cameras))


if __name__ == "__main__":
    main()
