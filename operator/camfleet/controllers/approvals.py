"""Records each GrantApproval: the approver identity from the webhook's verified stamp goes into status, once,
with an audit record (R15, R16). An approval without a valid stamp (made while the webhook was not serving, or
with a typed or copied stamp) is reported and never counted, whatever its status said before."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient

from camfleet.access.approval_status import approval_status
from camfleet.access.identity import APPROVAL_STAMP_ANNOTATION, StampError, read_stamp
from camfleet.api.grant_approval import GrantApprovalStatus
from camfleet.clock import Clock
from camfleet.kube.events import EventRecorder
from camfleet.kube.resources import RESOURCES
from camfleet.kube.status import write_status
from camfleet.observability.audit import audit


class ApprovalRecorder:
    def __init__(
        self, client: AsyncClient, events: EventRecorder, clock: Clock, stamp_keys: tuple[bytes, ...] = ()
    ) -> None:
        self._client = client
        self._stamp_keys = stamp_keys
        self._clock = clock
        self._events = events

    async def record(self, body: Mapping[str, Any]) -> None:
        stored_status = body.get("status")
        current = GrantApprovalStatus.model_validate(stored_status) if stored_status else None
        identity, problem = self._identity(body)
        generation = int(body["metadata"].get("generation", 0))
        status = approval_status(current, generation, identity, self._clock.now(), problem)
        if await write_status(self._client, RESOURCES["GrantApproval"], body, status) is None:
            return
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        approver = status.approver
        if approver and not (current and current.approver == approver):
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

    def removed(self, body: Mapping[str, Any]) -> None:
        """The approval is gone (the admission webhook audited who asked to delete it, and why it was let go)."""
        metadata, spec = body["metadata"], body.get("spec", {})
        target = spec.get("target", {})
        approver = ((body.get("status") or {}).get("approver") or {}).get("username")
        audit(
            "ApprovalRemoved",
            f"GrantApproval {metadata.get('namespace')}/{metadata.get('name')}",
            "removed",
            f"{spec.get('verdict')} by {approver or 'an unrecorded approver'} no longer exists",
            target=f"{target.get('kind')} {target.get('namespace') or metadata.get('namespace')}/{target.get('name')}",
            verdict=spec.get("verdict"),
            approver=approver,
        )

    def _identity(self, body: Mapping[str, Any]) -> tuple[tuple[str, list[str]] | None, str | None]:
        """The approver from the verified stamp of this very approval, or why there is none."""
        metadata = body["metadata"]
        try:
            stamp = read_stamp(self._stamp_keys, (metadata.get("annotations") or {}).get(APPROVAL_STAMP_ANNOTATION))
        except StampError as error:
            return None, str(error)
        if (stamp.subject_namespace, stamp.subject_name) != (metadata.get("namespace"), metadata.get("name")):
            return None, "has a stamp made for another approval (copied, not the webhook's)"
        if stamp.verdict != body.get("spec", {}).get("verdict"):
            return None, "has a stamp made for another verdict"
        return (stamp.username, list(stamp.groups)), None
