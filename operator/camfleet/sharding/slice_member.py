"""A replica's side of sharding: work only on its own cameras, and let go of one the sharder drains.

kopf lists and watches only this replica's cameras (a server-side label selector, `kopf_settings`), so the
camera controller learns no other. When the sharder marks one `drain.shard.camfleet.io/replica=<me>`, the
replica forgets it, waits for a device pass in flight to end, and only then removes its claim (both labels, on
condition that the camera is still its own): the sharder gives the camera to its next replica only after that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.types import PatchType

from camfleet.controllers.camera import CameraController
from camfleet.kube.resources import RESOURCES
from camfleet.kube.store import key_of
from camfleet.sharding.assignment import DRAIN_LABEL, REPLICA_LABEL

log = logging.getLogger(__name__)
RELEASE_ATTEMPTS = 10


def _pointer(label: str) -> str:
    return "/metadata/labels/" + label.replace("~", "~0").replace("/", "~1")


def release_patch(shard_id: str, draining: bool) -> list[dict[str, Any]]:
    """JSON patch: remove this replica's claim, only if the camera is still this replica's."""
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": _pointer(REPLICA_LABEL), "value": shard_id},
        {"op": "remove", "path": _pointer(REPLICA_LABEL)},
    ]
    if draining:
        ops.append({"op": "remove", "path": _pointer(DRAIN_LABEL)})
    return ops


class SliceMember:
    def __init__(self, client: AsyncClient, shard_id: str, cameras: CameraController) -> None:
        self._client = client
        self.shard_id = shard_id
        self._cameras = cameras

    def owns(self, body: Mapping[str, Any]) -> bool:
        labels = body["metadata"].get("labels") or {}
        return labels.get(REPLICA_LABEL) == self.shard_id and labels.get(DRAIN_LABEL) != self.shard_id

    def drained(self, body: Mapping[str, Any]) -> bool:
        return (body["metadata"].get("labels") or {}).get(DRAIN_LABEL) == self.shard_id

    async def let_go(self, body: Mapping[str, Any]) -> None:
        key = key_of(body)
        await self._cameras.let_go(key)
        for attempt in range(RELEASE_ATTEMPTS):
            try:
                await self._client.patch(
                    RESOURCES["Camera"], key[1], release_patch(self.shard_id, True), namespace=key[0],
                    patch_type=PatchType.JSON,
                )  # fmt: skip
                log.info("camera %s/%s drained: handed back to the sharder", *key)
                return
            except ApiError as error:
                if error.status.code is not None and error.status.code < 500 and error.status.code != 429:
                    # gone, or no longer ours (the test failed): nothing to hand back
                    log.info("camera %s/%s drained, claim already gone (%s)", *key, error.status.message)
                    return
                log.warning("could not hand camera %s/%s back (%s); retrying", *key, error.status.message)
            await asyncio.sleep(1.0 + attempt)
