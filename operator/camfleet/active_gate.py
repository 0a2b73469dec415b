"""Whether this replica is the one that works: kopf's peering decides, camfleet's controllers follow.

With replicas, kopf pauses its watches while a peer of higher (or equal) priority is alive. camfleet's
controllers run queues of their own (device resyncs, grant expiries), which kopf knows nothing of, so they
wait at this gate. The verdict is kopf's own, not a second reading of the peering object. kopf keeps it in
a private toggle per peering object; with mandatory peering (camfleet's, with replicas) each toggle starts
paused, and kopf logs every later turn exactly once: "Resuming operations..." when it turns off (the first
peering pass finding no stronger peer, or such a peer gone), "Pausing operations..." when it turns on.
Each peering object's events are processed in kopf's worker task for that object, so the task's name tells
the toggles apart. kopf is pinned; tests/unit/test_active_gate.py drives kopf's real peering code through this
bridge, so an upgrade that changes the messages fails there rather than in production.

One approximation: with several peering objects (one per served namespace), the gate opens at the first
peering's first resume, while kopf still waits for the others' first pass (a moment, at start-up only).
"""

from __future__ import annotations

import asyncio
import logging

KOPF_PEERING_LOGGER = "kopf._core.engines.peering"
PAUSED_BY_KOPF = ("Pausing operations in favour of", "Pausing all operators, including self")
RESUMED_BY_KOPF = "Resuming operations after the pause"


class ActiveGate:
    """Open while this replica may act; closed while kopf keeps it paused for a peer.

    `peered`: kopf starts paused until its first peering pass, so the gate does too; standalone, it is open.
    """

    def __init__(self, peered: bool = False) -> None:
        self._paused: set[str] = set()
        self._heard_from_kopf = not peered
        self._changed = asyncio.Event()

    @property
    def is_open(self) -> bool:
        return self._heard_from_kopf and not self._paused

    async def wait_open(self) -> None:
        if not self.is_open:
            await self.wait_change(False)

    async def wait_change(self, seen_open: bool) -> bool:
        """Wait until the gate is no longer `seen_open`; return the new state."""
        while self.is_open == seen_open:
            self._changed.clear()
            await self._changed.wait()
        return self.is_open

    def pause(self, peering: str = "") -> None:
        self._paused.add(peering)
        self._changed.set()

    def resume(self, peering: str = "") -> None:
        self._heard_from_kopf = True
        self._paused.discard(peering)
        self._changed.set()


class KopfPeeringBridge(logging.Handler):
    """Turns kopf's pause and resume log records into gate turns (in the event loop's thread, where kopf logs)."""

    def __init__(self, gate: ActiveGate) -> None:
        super().__init__(level=logging.INFO)
        self._gate = gate

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(PAUSED_BY_KOPF):
            self._gate.pause(_peering_of_current_task())
        elif message.startswith(RESUMED_BY_KOPF):
            self._gate.resume(_peering_of_current_task())


def _peering_of_current_task() -> str:
    """kopf's per-object worker task is named after the peering object it processes (its uid)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return ""
    return task.get_name() if task is not None else ""


def follow_kopf_peering(gate: ActiveGate) -> KopfPeeringBridge:
    bridge = KopfPeeringBridge(gate)
    peering_log = logging.getLogger(KOPF_PEERING_LOGGER)
    peering_log.addHandler(bridge)
    if peering_log.getEffectiveLevel() > logging.INFO:
        peering_log.setLevel(logging.INFO)  # the turns are logged at INFO; they must reach the bridge
    return bridge
