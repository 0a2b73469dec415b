"""Small builders for access tests: API objects from a few keyword arguments."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from camfleet.access import ApprovalFacts, CameraFacts, GrantFacts
from camfleet.access.identity import Binding
from camfleet.api import AccessTier, SharingGrant
from camfleet.api.camera import SecurityLevel, ShareClass
from camfleet.api.grant_approval import ApprovalTargetKind, Verdict
from camfleet.api.sharing_grant import SharingGrantSpec

CITY = ZoneInfo("Asia/Shanghai")
NOW = datetime(2030, 8, 11, 10, 0, tzinfo=CITY)
"""A Sunday in the flood season."""
OWNER = "public-security"
ME = "transport"

APPLICATION = {
    "applicantDepartment": "Transport Bureau",
    "contact": "Wang Lei, +86 532 8000 1234",
    "reason": "crossing study",
    "dataType": "live video and recordings",
    "dataContent": "pedestrian flows",
    "scopeOfUse": "planning division",
    "securityMeasures": "bureau workstations only",
}


def camera(
    name: str = "cam",
    namespace: str = OWNER,
    restricted: bool = False,
    share_class: ShareClass = ShareClass.CONDITIONAL,
    labels: dict[str, str] | None = None,
) -> CameraFacts:
    level = SecurityLevel.RESTRICTED if restricted else SecurityLevel.STANDARD
    return CameraFacts(namespace, name, level, share_class, labels or {})


def tier(level: int, *subjects: str | dict[str, Any], name: str | None = None, authorized: Any = ()) -> AccessTier:
    return AccessTier.model_validate(
        {
            "metadata": {"name": name or f"level-{level}"},
            "spec": {
                "level": level,
                "subjects": [{"department": s} if isinstance(s, str) else s for s in subjects],
                "authorizedCameras": list(authorized),
            },
        }
    )


def grant_spec(
    cameras: dict[str, Any] | None = None,
    permissions: tuple[str, ...] = ("LiveView", "Playback", "PTZControl", "Export"),
    share_class: str = "Conditional",
    start: datetime = NOW - timedelta(days=1),
    end: datetime = NOW + timedelta(days=30),
    emergency: bool = False,
) -> SharingGrantSpec:
    body: dict[str, Any] = {
        "cameras": cameras or {"namespace": OWNER, "selector": {}},
        "shareClass": share_class,
        "permissions": list(permissions),
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "purpose": "testing",
    }
    if emergency:
        body["emergency"] = {"incidentReference": "INC-1"}
    elif not (share_class == "Unconditional" and set(permissions) <= {"LiveView"}):
        body["application"] = APPLICATION
    return SharingGrantSpec.model_validate(body)


def grant(
    name: str = "g", namespace: str = ME, approved: bool = True, revoked: bool = False, **spec: Any
) -> GrantFacts:
    return GrantFacts(namespace, name, grant_spec(**spec), approved=approved, revoked=revoked)


def sharing_grant(
    name: str = "g", namespace: str = ME, created: datetime = NOW - timedelta(days=1), **spec: Any
) -> SharingGrant:
    return SharingGrant.model_validate(
        {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "creationTimestamp": created.isoformat(),
                "uid": f"uid-{namespace}-{name}",
                "generation": 1,
            },
            "spec": grant_spec(**spec).to_api(),
        }
    )


def approval(
    approver: str | None,
    verdict: Verdict = Verdict.APPROVE,
    name: str | None = None,
    namespace: str = OWNER,
    grant_name: str = "g",
    grantee: str = ME,
    departments: frozenset[str] = frozenset({OWNER}),
    recorded_at: datetime = NOW - timedelta(hours=1),
    reason: str | None = None,
    binding: Binding | None = None,
    groups: frozenset[str] = frozenset(),
) -> ApprovalFacts:
    """An approval as counted; `binding`: the grant and content its verified stamp names."""
    return ApprovalFacts(
        namespace=namespace,
        name=name or f"{grant_name}-{approver}",
        target_kind=ApprovalTargetKind.SHARING_GRANT,
        target_namespace=grantee,
        target_name=grant_name,
        verdict=verdict,
        approver=approver,
        approver_departments=departments,
        approver_groups=groups,
        recorded_at=recorded_at,
        reason=reason,
        binding=binding,
    )
