"""Records each GrantApproval: the approver identity the webhook stamped goes into status, once, with an audit
record (R15, R16). An approval without a stamped identity (made while the webhook was not serving) is
reported and never counted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lightkube import AsyncClient

from camfleet.access.identity import decode_identity
from camfleet.clock import Clock
from camfleet.conditions import DesiredCondition, merge_conditions, rfc3339
from camfleet.kube.events import EventRecorder
from camfleet.kube.resources import RESOURCES
from camfleet.kube.status import patch_status, status_patch
from camfleet.observability.audit import audit


def approval_status(current: Mapping[str, Any] | None, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    current = dict(current or {})
    generation = int(body["metadata"].get("generation", 0))
    identity = decode_identity(body["metadata"].get("annotations"))
    if identity is None:
        ready = DesiredCondition(
            "Ready", "False", "IdentityNotRecorded", "created while the admission webhook was not serving; not counted"
        )
        return {**current, "observedGeneration": generation, "conditions": merge_conditions(
            current.get("conditions"), [ready], generation, now
        )}  # fmt: skip
    # Recorded once, from the create request's stamp, and never rewritten afterwards.
    approver = current.get("approver") or {"username": identity[0], "groups": identity[1]}
    ready = DesiredCondition(
        "Ready", "True", "Recorded", f"decision by {approver['username']} recorded in the audit trail"
    )
    return {
        **current,
        "observedGeneration": generation,
        "approver": approver,
        "recordedTime": current.get("recordedTime") or rfc3339(now),
        "conditions": merge_conditions(current.get("conditions"), [ready], generation, now),
    }


class ApprovalRecorder:
    def __init__(self, client: AsyncClient, events: EventRecorder, clock: Clock) -> None:
        self._client = client
        self._clock = clock
        self._events = events

    async def record(self, body: Mapping[str, Any]) -> None:
        current = body.get("status")
        status = approval_status(current, body, self._clock.now())
        patch = status_patch(current, status)
        if patch is None:
            return
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        await patch_status(self._client, RESOURCES["GrantApproval"], name, namespace, patch)
        approver = status.get("approver")
        if approver and not (current or {}).get("approver"):
            spec = body.get("spec", {})
            target = spec.get("target", {})
            audit(
                "ApprovalRecorded",
                f"GrantApproval {namespace}/{name}",
                str(spec.get("verdict")),
                str(spec.get("reason") or ""),
                actor=approver["username"],
                target=f"{target.get('kind')} {target.get('namespace') or namespace}/{target.get('name')}",
            )
            await self._events.record(
                dict(body), "Normal", "Recorded", f"{spec.get('verdict')} by {approver['username']} recorded"
            )
