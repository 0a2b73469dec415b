"""A read-only snapshot of what access decisions depend on, from the live cluster (for `access explain`)."""

from __future__ import annotations

from dataclasses import dataclass

from lightkube import AsyncClient

from camfleet.access.decision_inputs import CameraFacts, GrantFacts
from camfleet.api.access_tier import AccessTier
from camfleet.api.camera import Camera
from camfleet.api.sharing_grant import SharingGrant
from camfleet.kube.apply import get_or_none
from camfleet.kube.resources import RESOURCES


@dataclass(frozen=True)
class AccessSnapshot:
    camera: CameraFacts
    tiers: list[AccessTier]
    grants: list[GrantFacts]


class CameraNotFound(LookupError):
    pass


async def access_snapshot(client: AsyncClient, namespace: str, camera_name: str, department: str) -> AccessSnapshot:
    body = await get_or_none(client, RESOURCES["Camera"], camera_name, namespace)
    if body is None:
        raise CameraNotFound(f"camera {namespace}/{camera_name} does not exist")
    camera = CameraFacts.from_resource(Camera.model_validate(body.to_dict()))
    tiers = [AccessTier.model_validate(t.to_dict()) async for t in client.list(RESOURCES["AccessTier"])]
    grants = [
        GrantFacts.from_resource(SharingGrant.model_validate(g.to_dict()))
        async for g in client.list(RESOURCES["SharingGrant"], namespace=department)
    ]
    return AccessSnapshot(camera, tiers, grants)
