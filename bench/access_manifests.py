"""SharingGrants for the access benchmarks: live view of Unconditional cameras, approved at once (R10).

Grants come from `departments` grantee namespaces and each names a few cameras of the owner department, so
tokens differ from grant to grant as they would in a city.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

OWNER = "bench-owner"
CAMERAS_PER_GRANT = 3


def department(index: int) -> str:
    return f"bench-dept-{index:03d}"


def grant_name(index: int) -> str:
    return f"grant-{index:05d}"


def cameras_of(index: int, cameras: list[str]) -> list[str]:
    """The cameras grant `index` names: a few neighbours, spread over the fleet."""
    return [cameras[(index * 7 + k) % len(cameras)] for k in range(CAMERAS_PER_GRANT)]


def sharing_grant(
    index: int, departments: int, cameras: list[str], start: datetime, end: datetime, uid: str | None = None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": grant_name(index), "namespace": department(index % departments)}
    if uid is not None:  # for grants judged in memory: the API server would assign these
        metadata |= {"uid": uid, "creationTimestamp": start.isoformat()}
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "SharingGrant",
        "metadata": metadata,
        "spec": {
            "cameras": {"namespace": OWNER, "names": cameras_of(index, cameras)},
            "shareClass": "Unconditional",
            "permissions": ["LiveView"],
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "purpose": "benchmark: watch traffic at the junctions",
        },
    }
