"""Camera handlers: hand watch events to the camera controller; on deletion, say goodbye."""

from __future__ import annotations

from typing import Any

import kopf

from camfleet.api import GROUP, VERSION
from camfleet.context import OperatorContext
from camfleet.controllers.camera import key_of


@kopf.on.event(GROUP, VERSION, "cameras")
async def camera_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    body = event["object"]
    if event["type"] == "DELETED":
        memo.cameras.forget(key_of(body))
    else:
        memo.cameras.observe(body)


@kopf.on.delete(GROUP, VERSION, "cameras")
async def remove_camera(body: kopf.Body, memo: OperatorContext, **_: Any) -> None:
    # The finalizer lets later stages (retention hold, decommission filing) run before removal.
    memo.cameras.forget(key_of(body))
    await memo.events.record(dict(body), "Normal", "Removed", "camera removed from the fleet")
