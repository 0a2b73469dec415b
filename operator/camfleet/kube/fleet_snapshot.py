"""What `camfleet status` summarizes, read from the cluster: Cameras, RecordingPolicies and SharingGrants of
every namespace. Read-only: three list calls (paged, so a city of 10,000 cameras never arrives as one reply),
nothing watched, nothing written."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from lightkube import ALL_NS, AsyncClient

from camfleet.kube.listing import list_whole
from camfleet.kube.resources import RESOURCES

PAGE = 500
"""Objects per list reply, as kubectl pages."""


@dataclass(frozen=True)
class FleetSnapshot:
    cameras: list[dict[str, Any]]
    policies: list[dict[str, Any]]
    grants: list[dict[str, Any]]


async def _bodies(client: AsyncClient, kind: str) -> list[dict[str, Any]]:
    return [body async for body in list_whole(client, RESOURCES[kind], ALL_NS, page=PAGE)]


async def fleet_snapshot(client: AsyncClient) -> FleetSnapshot:
    # The three lists do not depend on each other: fetch them side by side.
    cameras, policies, grants = await asyncio.gather(
        _bodies(client, "Camera"), _bodies(client, "RecordingPolicy"), _bodies(client, "SharingGrant")
    )
    return FleetSnapshot(cameras, policies, grants)
