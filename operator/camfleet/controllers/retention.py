"""The retention janitor: destroys released recordings once their retention has passed (R4), never before (R3).

Released volumes carry a retain-until annotation; each gets one due time in a single queue. The due time is
re-derived from the release itself (`holds.destruction_due`: release time plus the retention the recordings
were made under, never earlier than retain-until), so a retain-until someone lowered moves nothing. At that
time the volume is read again and deleted only if it is still released, past its time, and under no legal
hold; the destruction is an audit record with what it was judged on (R16).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import PersistentVolumeClaim

from camfleet.active_gate import ActiveGate
from camfleet.clock import Clock
from camfleet.kube.apply import delete_if_present, get_or_none
from camfleet.kube.events import EventRecorder
from camfleet.observability.audit import audit
from camfleet.recording.groups import GROUP_LABEL
from camfleet.recording.holds import (
    LEGAL_HOLD,
    RELEASED_AT,
    RETAIN_UNTIL,
    RETENTION_DAYS,
    destruction_due,
    may_delete,
    timestamp,
)
from camfleet.recording.workloads import CAMERA_LABEL, POLICY_LABEL
from camfleet.scheduling import DueQueue, serve

log = logging.getLogger(__name__)
Key = tuple[str, str]


class RetentionJanitor:
    def __init__(self, client: AsyncClient, events: EventRecorder, clock: Clock, floor_days: int = 30) -> None:
        self._client = client
        self._floor_days = floor_days
        self._clock = clock
        self._events = events
        self._queue: DueQueue[Key] = DueQueue(clock)

    def volume_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        annotations = body["metadata"].get("annotations") or {}
        until = None if deleted else destruction_due(annotations, self._floor_days)
        if until is None:
            self._queue.discard(key)
            return
        wait = (until - self._clock.now()).total_seconds()
        self._queue.schedule(key, self._clock.monotonic() + max(0.0, wait))

    async def run(self, gate: ActiveGate) -> None:
        await serve(self._queue, self._expire, self._expire_failed, workers=1, gate=gate)

    def _expire_failed(self, key: Key) -> float:
        log.exception("retention check of volume %s/%s failed; retrying in 60s", *key)
        return 60.0

    async def _expire(self, key: Key) -> None:
        namespace, name = key
        volume = await get_or_none(self._client, PersistentVolumeClaim, name, namespace)
        if volume is None:
            return
        body: dict[str, Any] = volume.to_dict()
        annotations = body["metadata"].get("annotations") or {}
        if body["metadata"].get("deletionTimestamp"):
            return  # destroyed already; Kubernetes' PVC protection finishes it
        if not may_delete(annotations, self._clock.now(), self._floor_days):
            if not annotations.get(LEGAL_HOLD):
                self.volume_changed(body, deleted=False)  # time moved: check again when due
            # Under a legal hold nothing is due: the watch event that lifts the hold schedules it again (a volume
            # past its time rescheduled here would be read again at once, for as long as the hold lasts).
            return
        if not await delete_if_present(self._client, PersistentVolumeClaim, name, namespace):
            return
        due = timestamp(destruction_due(annotations, self._floor_days) or self._clock.now())
        message = f"retention passed on {due}; recordings destroyed (rule R4)"
        labels = body["metadata"].get("labels") or {}
        audit(
            "DestroyRecordings",
            f"PersistentVolumeClaim {namespace}/{name}",
            "destroyed",
            message,
            camera=labels.get(CAMERA_LABEL),
            recorderGroup=labels.get(GROUP_LABEL),
            policy=labels.get(POLICY_LABEL),
            releasedAt=annotations.get(RELEASED_AT),
            retentionDays=annotations.get(RETENTION_DAYS),
            retainUntil=annotations.get(RETAIN_UNTIL),
            destructionDue=due,
            uid=body["metadata"].get("uid"),
        )
        await self._events.record(body, "Normal", "RecordingsDestroyed", message)
