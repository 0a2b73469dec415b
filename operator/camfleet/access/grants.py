"""Grants: when they are in force, which cameras they cover, and what they allow on each.

A grant's own limits (R10, R12, R13), applied per camera:
- share class: a camera more protected than the grant's `shareClass` is left out; NotShared cameras are
  reached only by a NotShared grant, which the API allows for emergencies only;
- restricted zones: only emergency grants (special authorization, R12) reach cameras of security level
  Restricted; a normal grant would let levels 2-4 into restricted zones by the back door.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from camfleet.access.camera_selection import selection_covers
from camfleet.access.decision_inputs import CameraFacts, GrantFacts
from camfleet.access.identity import Binding, content_digest
from camfleet.access.tier_table import NOTHING, Permissions
from camfleet.api.camera import ShareClass
from camfleet.api.sharing_grant import EMERGENCY_MAX_DURATION, EffectiveCamera, SharingGrant, SharingGrantSpec

SHARE_CLASS_PROTECTION: dict[ShareClass, int] = {
    ShareClass.UNCONDITIONAL: 0,
    ShareClass.CONDITIONAL: 1,
    ShareClass.NOT_SHARED: 2,
}


GRANT_CONTENT_FIELDS = (
    "cameras",
    "permissions",
    "period",
    "shareClass",
    "transcodeProfile",
    "purpose",
    "application",
    "emergency",
)
"""Every field of a grant that decides what is shared: approvals bind to a digest over exactly these."""


def grant_content(spec: SharingGrantSpec) -> dict[str, Any]:
    """The grant's content as approvers approved it: order-free permissions, instants in UTC."""
    api = spec.to_api()
    content = {field: api.get(field) for field in GRANT_CONTENT_FIELDS}
    content["permissions"] = sorted(str(p) for p in spec.permissions)
    content["period"] = {
        "start": spec.period.start.astimezone(UTC).isoformat(),
        "end": spec.period.end.astimezone(UTC).isoformat(),
    }
    return content


def grant_digest(spec: SharingGrantSpec) -> str:
    return content_digest(grant_content(spec))


def grant_binding(grant: SharingGrant) -> Binding | None:
    """What an approval of this grant must be bound to: its uid, generation and content digest (None before
    the API server gave it a uid)."""
    if not grant.metadata.uid:
        return None
    return Binding(grant.metadata.uid, grant.metadata.generation or 0, grant_digest(grant.spec))


def changed_fields(before: SharingGrantSpec, after: SharingGrantSpec) -> list[str]:
    """Which content fields differ between two versions of a grant (for the audit record of a change)."""
    old, new = grant_content(before), grant_content(after)
    return [field for field in GRANT_CONTENT_FIELDS if old.get(field) != new.get(field)]


def hard_expiry(spec: SharingGrantSpec) -> datetime:
    """When access ends with no human action: the period's end, and for emergencies at most 72 hours after start.

    The API already refuses longer emergencies; the cap is applied again so that no stored object can stretch it.
    """
    if spec.emergency is None:
        return spec.period.end
    return min(spec.period.end, spec.period.start + EMERGENCY_MAX_DURATION)


def not_in_force_because(grant: GrantFacts, at: datetime) -> str | None:
    """Why the grant gives nothing at `at`, or None when it is in force."""
    if grant.revoked:
        return "revoked"
    if not grant.approved:
        return "not approved (pending or denied)"
    if at < grant.spec.period.start:
        return f"starts at {grant.spec.period.start.isoformat()}"
    end = hard_expiry(grant.spec)
    if at >= end:
        return f"expired at {end.isoformat()}"
    return None


def grant_in_force(grant: GrantFacts, at: datetime) -> bool:
    return not_in_force_because(grant, at) is None


def grant_covers(spec: SharingGrantSpec, camera: CameraFacts) -> bool:
    """The grant's selection names or selects the camera (before share-class and security limits)."""
    return selection_covers(spec.cameras, camera)


@dataclass(frozen=True)
class GrantRights:
    permissions: Permissions
    because: str


def grant_rights(spec: SharingGrantSpec, camera: CameraFacts) -> GrantRights:
    """What the grant allows on a camera it covers, once share class and security level are applied."""
    asked = frozenset(spec.permissions)
    if SHARE_CLASS_PROTECTION[camera.share_class] > SHARE_CLASS_PROTECTION[spec.share_class]:
        if camera.share_class == ShareClass.NOT_SHARED:
            return GrantRights(
                NOTHING, "camera is NotShared: only an emergency grant of share class NotShared reaches it (R10)"
            )
        return GrantRights(
            NOTHING,
            f"camera is {camera.share_class}, more protected than the grant's share class {spec.share_class} (R10)",
        )
    if camera.restricted and spec.emergency is None:
        return GrantRights(
            NOTHING, "restricted zone: only an emergency grant reaches restricted zones through sharing (R13)"
        )
    if spec.emergency is not None:
        return GrantRights(asked, f"emergency access for incident {spec.emergency.incident_reference} (R12)")
    return GrantRights(asked, f"shared for: {spec.purpose}")


def withheld_cameras(spec: SharingGrantSpec, cameras: Iterable[CameraFacts]) -> dict[str, str]:
    """Cameras the grant covers but on which its share class or the security level allows nothing, with why."""
    withheld = {}
    for camera in cameras:
        if grant_covers(spec, camera):
            rights = grant_rights(spec, camera)
            if not rights.permissions:
                withheld[camera.name] = rights.because
    return withheld


def effective_cameras(spec: SharingGrantSpec, cameras: Iterable[CameraFacts]) -> list[EffectiveCamera]:
    """The grant's `status.effectiveCameras`: covered cameras on which it allows something, sorted by name."""
    covered = [camera for camera in cameras if grant_covers(spec, camera)]
    result = []
    for camera in sorted(covered, key=lambda c: (c.namespace, c.name)):
        rights = grant_rights(spec, camera)
        if rights.permissions:
            permissions = [p for p in spec.permissions if p in rights.permissions]
            result.append(EffectiveCamera(namespace=camera.namespace, name=camera.name, permissions=permissions))
    return result
