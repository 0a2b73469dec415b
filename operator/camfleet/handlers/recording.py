"""Recording handlers: policies, the recorders camfleet runs (and their pods), and released retention volumes."""

from __future__ import annotations

from typing import Any

import kopf

from camfleet.api import GROUP, VERSION
from camfleet.operator_context import OperatorContext
from camfleet.recording.groups import GROUP_COMPONENT
from camfleet.recording.workloads import COMPONENT_LABEL, MANAGED_BY, RETENTION_VOLUME_LABEL


@kopf.on.event(GROUP, VERSION, "recordingpolicies")
async def policy_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    memo.recording.policy_changed(event["object"], deleted=event["type"] == "DELETED")


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED_BY)
async def workload_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    """Recorders and transcoders: readiness, deletion, and hand edits (which wake the camera to put them back)."""
    deleted = event["type"] == "DELETED"
    component = (event["object"]["metadata"].get("labels") or {}).get(COMPONENT_LABEL)
    if component == "recorder":
        memo.recording.recorder_changed(event["object"], deleted=deleted)
        if memo.checkpoints is not None:
            memo.checkpoints.recorder_changed(event["object"], deleted=deleted)
    elif component == "transcoder":
        memo.recording.transcoder_changed(event["object"], deleted=deleted)
    elif component == GROUP_COMPONENT:
        memo.recording.group_changed(event["object"], deleted=deleted)
        if memo.checkpoints is not None:
            memo.checkpoints.group_changed(event["object"], deleted=deleted)


@kopf.on.event("", "v1", "pods", labels={**MANAGED_BY, COMPONENT_LABEL: "recorder"})
async def recorder_pod_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    """Where each recorder answers `/chain`, for the chain checkpointer."""
    if memo.checkpoints is not None:
        memo.checkpoints.pod_changed(event["object"], deleted=event["type"] == "DELETED")


@kopf.on.event("", "v1", "pods", labels={**MANAGED_BY, COMPONENT_LABEL: GROUP_COMPONENT})
async def group_recorder_pod_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    """Where each group recorder answers `/chain/<camera>` for its members, for the chain checkpointer."""
    if memo.checkpoints is not None:
        memo.checkpoints.group_pod_changed(event["object"], deleted=event["type"] == "DELETED")


@kopf.on.event("", "v1", "persistentvolumeclaims", labels={RETENTION_VOLUME_LABEL: "true"})
async def retention_volume_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    deleted = event["type"] == "DELETED"
    memo.retention.volume_changed(event["object"], deleted=deleted)
    memo.recording.volume_changed(event["object"], deleted=deleted)
