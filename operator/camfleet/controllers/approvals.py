"""Records each GrantApproval: the approver identity the webhook stamped goes into status, once, with an audit
record (R15, R16). An approval without a stamped identity (made while the webhook was not serving) is
reported and never counted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient

from camfleet.access.approval_status import approval_status
from camfleet.access.identity import decode_identity
from camfleet.api.grant_approval import GrantApprovalStatus
from camfleet.clock import Clock
from camfleet.kube.events import EventRecorder
from camfleet.kube.resources import RESOURCES
from camfleet.kube.status import write_status
from camfleet.observability.audit import audit


class ApprovalRecorder:
    def __init__(self, client: AsyncClient, events: EventRecorder, clock: Clock) -> None:
        self._client = client
        self._clock = clock
        self._events = events

    async def record(self, body: Mapping[str, Any]) -> None:
        stored_status = body.get("status")
        current = GrantApprovalStatus.model_validate(stored_status) if stored_status else None
        identity = decode_identity(body["metadata"].get("annotations"))
        generation = int(body["metadata"].get("generation", 0))
        status = approval_status(current, generation, identity, self._clock.now())
        if await write_status(self._client, RESOURCES["GrantApproval"], body, status) is None:
            return
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        approver = status.approver
        if approver and not (current and current.approver):
            spec = body.get("spec", {})
            target = spec.get("target", {})
            audit(
                "ApprovalRecorded",
                f"GrantApproval {namespace}/{name}",
                str(spec.get("verdict")),
                str(spec.get("reason") or ""),
                actor=approver.username,
                target=f"{target.get('kind')} {target.get('namespace') or namespace}/{target.get('name')}",
            )
            await self._events.record(
                dict(body), "Normal", "Recorded", f"{spec.get('verdict')} by {approver.username} recorded"
            )
