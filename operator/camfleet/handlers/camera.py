"""Camera handlers: hand watch events to the camera controller; on deletion, decommission properly (R19, R5)."""

from __future__ import annotations

from typing import Any

import kopf

from camfleet.api import GROUP, VERSION
from camfleet.kube.store import key_of
from camfleet.operator_context import OperatorContext

DECOMMISSION_RETRY_SECONDS = 5


@kopf.on.event(GROUP, VERSION, "cameras")
async def camera_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    body = event["object"]
    if event["type"] == "DELETED":  # with sharding also: relabelled away from this replica
        memo.cameras.forget(key_of(body))
    elif memo.shard is None or memo.shard.owns(body):
        memo.cameras.observe(body)
    elif memo.shard.drained(body):
        await memo.shard.let_go(body)  # the sharder moves it to another replica only after this
    else:
        memo.cameras.forget(key_of(body))


@kopf.on.delete(GROUP, VERSION, "cameras")
async def remove_camera(body: kopf.Body, spec: kopf.Spec, retry: int, memo: OperatorContext, **_: Any) -> None:
    """A recording camera goes only with spec.decommission (R19); its recordings stay for their retention (R3)."""
    key = key_of(body)
    if await memo.recording.is_recording(key) and not spec.get("decommission"):
        if retry == 0:
            await memo.events.record(
                dict(body),
                "Warning",
                "DecommissionRequired",
                "the camera is recording; set spec.decommission: true to remove it (rule R19)",
            )
        raise kopf.TemporaryError(
            "recording camera needs spec.decommission: true (rule R19)", delay=DECOMMISSION_RETRY_SECONDS
        )
    until = await memo.recording.release(key, "camera decommissioned")
    kept = f"; recordings kept until {until:%Y-%m-%dT%H:%M:%SZ}" if until else ""
    await memo.events.record(
        dict(body),
        "Normal",
        "Decommissioned",
        f"camera removed from the fleet; file the removal with the police within 30 days (rule R5){kept}",
    )
    memo.cameras.forget(key)
