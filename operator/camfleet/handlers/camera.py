"""Camera handlers: parse, decide the status, write it only when it changed."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import kopf

from camfleet.api import GROUP, VERSION
from camfleet.api.camera import Camera
from camfleet.cameras.status import camera_conditions, desired_status
from camfleet.conditions import READY, transitions
from camfleet.context import OperatorContext
from camfleet.kube.events import EventType
from camfleet.observability.metrics import READY_OBJECTS, RECONCILIATIONS, STATUS_WRITES

KIND = "Camera"


@kopf.on.resume(GROUP, VERSION, "cameras")
@kopf.on.create(GROUP, VERSION, "cameras")
@kopf.on.update(GROUP, VERSION, "cameras")
async def reconcile_camera(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: OperatorContext, **_: Any
) -> None:
    Camera.model_validate(dict(body))  # the API server validated it; this catches a stale CRD
    conditions = camera_conditions()
    current = dict(status) if status else None
    generation = int(body["metadata"].get("generation", 0))
    new_status = desired_status(current, conditions, generation, datetime.now(UTC))
    if new_status != current:
        patch.status.update(new_status)
        STATUS_WRITES.labels(KIND).inc()
    for change in transitions((current or {}).get("conditions"), conditions):
        if change.type == READY:
            event_type: EventType = "Normal" if change.current.status == "True" else "Warning"
            await memo.events.record(dict(body), event_type, change.current.reason, change.current.message)
    ready = any(c.type == READY and c.status == "True" for c in conditions)
    READY_OBJECTS.labels(KIND, body["metadata"]["namespace"], body["metadata"]["name"]).set(1 if ready else 0)
    RECONCILIATIONS.labels(KIND, "success").inc()


@kopf.on.delete(GROUP, VERSION, "cameras")
async def remove_camera(body: kopf.Body, memo: OperatorContext, **_: Any) -> None:
    # The finalizer exists so later stages (retention hold, decommission filing) run before removal.
    meta = body["metadata"]
    with suppress(KeyError):  # never reconciled by this process: no series to drop
        READY_OBJECTS.remove(KIND, meta["namespace"], meta["name"])
    await memo.events.record(dict(body), "Normal", "Removed", "camera removed from the fleet")
