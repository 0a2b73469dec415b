"""Holding a Lease (coordination.k8s.io/v1): membership of a replica, or the sharder's election.

`hold` renews every RENEW_SECONDS and keeps `gate` open while the Lease is this replica's and was renewed
recently enough (`fenced`): a replica cut off from the API server stops before others may take over.
Writes carry the resourceVersion read, so two replicas racing for an expired Lease cannot both win.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.coordination_v1 import Lease

from camfleet.active_gate import ActiveGate
from camfleet.clock import Clock
from camfleet.sharding.membership import RENEW_SECONDS, SHARD_LEASE_LABEL, LeaseRecord, fenced, lease_spec, may_hold

log = logging.getLogger(__name__)


async def try_hold(
    client: AsyncClient,
    namespace: str,
    name: str,
    holder: str,
    labels: Mapping[str, str],
    now: datetime,
    acquired: datetime | None,
) -> datetime | None:
    """Renew or take the Lease; its acquire time when `holder` has it now, None when someone else does."""
    try:
        current: dict[str, Any] | None = (await client.get(Lease, name, namespace=namespace)).to_dict()
    except ApiError as error:
        if error.status.code != 404:
            raise
        current = None
    record = LeaseRecord.of(current) if current is not None else None
    if not may_hold(record, holder, now):
        return None
    spec = lease_spec(holder, now, record, acquired)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if current is not None:
        metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
    manifest = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}
    body = cast(Lease, Lease.from_dict(manifest))
    try:
        await (client.create(body) if current is None else client.replace(body))
    except ApiError as error:
        if error.status.code == 409:  # another replica wrote it first
            return None
        raise
    return LeaseRecord.of({"spec": {**spec, "renewTime": spec["acquireTime"]}}).renewed


class LeaseGate(ActiveGate):
    """Open while the Lease is held, judged also at each look: a process frozen past its fencing time (a stopped
    VM, a long pause) finds the gate closed when it wakes, before `hold` has had a turn to say so."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(peered=True)
        self._clock = clock
        self.renewed: float | None = None

    @property
    def is_open(self) -> bool:
        return super().is_open and not fenced(self.renewed, self._clock.monotonic())


async def hold(
    client: AsyncClient,
    namespace: str,
    name: str,
    holder: str,
    labels: Mapping[str, str],
    clock: Clock,
    gate: LeaseGate,
    stop_when_lost: bool = False,
) -> None:
    """Hold the Lease `name` for as long as this runs; `gate` is open while it is held.

    `stop_when_lost`: a replica that lost its membership may have had its cameras given to others while it could
    not see it, and its watch may still show them as its own; like client-go's leader election, it stops (and its
    pod restarts) rather than risk working next to their new owner."""
    acquired: datetime | None = None
    renewed: float | None = None
    held = False
    while True:
        try:
            acquired = await try_hold(client, namespace, name, holder, labels, clock.now(), acquired)
            renewed = clock.monotonic() if acquired is not None else None
            gate.renewed = renewed
        except asyncio.CancelledError:
            raise
        except Exception as error:  # an API outage: keep trying; the gate closes once the Lease may expire
            log.warning("could not renew Lease %s/%s: %s", namespace, name, error)
        if fenced(renewed, clock.monotonic()):
            if held:
                log.warning("Lease %s/%s not held: stopping", namespace, name)
                if stop_when_lost:
                    stop_process()
            held = False
            gate.pause(name)
        else:
            if not held:
                log.info("Lease %s/%s held by %s", namespace, name, holder)
            held = True
            gate.resume(name)
        await asyncio.sleep(RENEW_SECONDS)


CAMERA_WORK = ("camera controller", "recording controller")  # operator.py's task names


def stop_process() -> None:
    """Cancel the camera work now (a device pass in flight ends at its next await, well before the Lease can
    expire), then SIGTERM this process: kopf stops gracefully, everything else with it (operator.run's finally)."""
    for task in asyncio.all_tasks():
        if task.get_name() in CAMERA_WORK:
            task.cancel()
    os.kill(os.getpid(), signal.SIGTERM)


async def list_shard_leases(client: AsyncClient, namespace: str) -> list[dict[str, Any]]:
    return [
        lease.to_dict() async for lease in client.list(Lease, namespace=namespace, labels={SHARD_LEASE_LABEL: "true"})
    ]


async def release(client: AsyncClient, namespace: str, name: str, holder: str) -> None:
    """Delete the Lease if `holder` holds it (a replica leaving); best effort: otherwise it expires."""
    try:
        current = (await client.get(Lease, name, namespace=namespace)).to_dict()
        if LeaseRecord.of(current).holder == holder:
            await client.delete(Lease, name, namespace=namespace)
            log.info("Lease %s/%s given up", namespace, name)
    except Exception as error:
        log.info("could not give up Lease %s/%s (%s); it expires by itself", namespace, name, error)
