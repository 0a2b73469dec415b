"""The few facts about cameras and grants that access decisions read, taken from the API objects.

Decisions run for every gateway connection, so they work on these small frozen records rather than
on whole custom resources; `from_resource` builds them from what the operator watches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from camfleet.api.camera import Camera, SecurityLevel, ShareClass
from camfleet.api.conditions import ConditionStatus, ObjectStatus
from camfleet.api.sharing_grant import SharingGrant, SharingGrantCondition, SharingGrantSpec


@dataclass(frozen=True)
class CameraFacts:
    """A camera as access decisions see it: where it lives, its labels, security level and share class."""

    namespace: str
    """The owning department."""
    name: str
    security_level: SecurityLevel = SecurityLevel.STANDARD
    share_class: ShareClass = ShareClass.CONDITIONAL
    labels: Mapping[str, str] = field(default_factory=dict)
    privacy_masked: bool = False
    """The camera has privacy masks: outside its owner, only masked streams are shared (R17)."""

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def restricted(self) -> bool:
        """In a restricted zone (R13)."""
        return self.security_level == SecurityLevel.RESTRICTED

    @classmethod
    def from_resource(cls, camera: Camera) -> CameraFacts:
        namespace, name = camera.metadata.namespace, camera.metadata.name
        if not namespace or not name:
            raise ValueError("a camera needs metadata.namespace and metadata.name to be judged")
        return cls(
            namespace,
            name,
            camera.spec.security_level,
            camera.spec.share_class,
            dict(camera.metadata.labels),
            privacy_masked=bool(camera.spec.device.privacy_masks),
        )


class CameraFactsMemo:
    """Each camera's CameraFacts, parsed again only when what they are made of changed: its spec (the
    generation), its labels, or the camera itself (a new uid). Most camera events are status writes, and a
    restarted operator lists every camera for access before the watch tells them again."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], tuple[str, int, CameraFacts]] = {}

    def of(self, key: tuple[str, str], body: Mapping[str, Any] | None) -> CameraFacts | None:
        """None for a camera that is gone or does not match the model."""
        if body is None:
            self._known.pop(key, None)
            return None
        metadata = body["metadata"]
        uid, generation = str(metadata.get("uid")), metadata.get("generation")
        known = self._known.get(key)
        if known is not None and known[:2] == (uid, generation) and known[2].labels == (metadata.get("labels") or {}):
            return known[2]
        try:
            facts = CameraFacts.from_resource(Camera.model_validate(body))
        except ValidationError:
            self._known.pop(key, None)
            return None
        if generation is None:  # only the API server's generation tells a spec change
            self._known.pop(key, None)
        else:
            self._known[key] = (uid, int(generation), facts)
        return facts


@dataclass(frozen=True)
class GrantFacts:
    """A SharingGrant with the lifecycle's verdict on it.

    Both flags are read from the conditions the grant's status function writes (`access.grant_status`):
    `approved` from `Approved` (the lifecycle's decision, `grant_phase`; emergency grants are approved the
    moment the lifecycle sees them), `revoked` from `Revoked` (access the grant had, withdrawn before its end).
    The grant controller hands the credentials keeper the grant with the status it has just decided, so the
    two never come from a stale status.
    """

    namespace: str
    """The grantee department."""
    name: str
    spec: SharingGrantSpec
    approved: bool = False
    revoked: bool = False

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def emergency(self) -> bool:
        return self.spec.emergency is not None

    @classmethod
    def from_resource(cls, grant: SharingGrant) -> GrantFacts:
        namespace, name = grant.metadata.namespace, grant.metadata.name
        if not namespace or not name:
            raise ValueError("a grant needs metadata.namespace and metadata.name to be judged")
        return cls(
            namespace,
            name,
            grant.spec,
            approved=_condition_is_true(grant.status, SharingGrantCondition.APPROVED),
            revoked=_condition_is_true(grant.status, SharingGrantCondition.REVOKED),
        )


def _condition_is_true(status: ObjectStatus | None, condition_type: SharingGrantCondition) -> bool:
    if status is None:
        return False
    return any(c.type == condition_type and c.status == ConditionStatus.TRUE for c in status.conditions)
