"""CamfleetAuthorities (cluster-scoped, one object named `camfleet`): who holds the city's special powers.

Identities are those the API server authenticates (user names and groups, as admission userInfo reports them):
- the emergency authority authorizes emergency grants (R12, ZY-2024 art. 20, QD-TIERS art. 18);
- the classification authority sets and changes a camera's security level and share class (R10, R13,
  QD-TIERS art. 13, ZY-2024 art. 14);
- the legal-hold authority sets and lifts legal holds (R3);
- `emergencyDepartments` lists the departments (namespaces) that may request emergency access at all
  (QD-2010 art. 23: only departments with powers to investigate or handle public emergencies).

Only cluster administrators may edit it (no role the chart ships grants write access to it).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from camfleet.api.base import CamfleetModel, CustomResource
from camfleet.api.conditions import ObjectStatus
from camfleet.api.rules import CelRule, ListSet
from camfleet.api.types import DnsLabel, Integer

AUTHORITIES_NAME = "camfleet"
"""The one CamfleetAuthorities object the operator reads."""

Identity = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=253)]
"""A user or group name as the API server's authentication reports it."""


class AuthorityMembers(CamfleetModel):
    """Who forms an authority: any listed user, or any member of a listed group."""

    users: Annotated[list[Identity], Field(max_length=64), ListSet()] = Field(default_factory=list)
    """User names, e.g. `duty-officer@emc.city.example` or `system:serviceaccount:gitops:argocd`."""
    groups: Annotated[list[Identity], Field(max_length=64), ListSet()] = Field(default_factory=list)
    """Group names, e.g. `camfleet.io/authority:emergency-command`."""

    def includes(self, username: str, groups: Iterable[str]) -> bool:
        """Whether the authenticated identity (user name and groups) is a member."""
        return username in self.users or any(group in self.groups for group in groups)

    def describe(self) -> str:
        parts = [f"user {user}" for user in self.users] + [f"group {group}" for group in self.groups]
        return ", ".join(parts) if parts else "nobody"


class CamfleetAuthoritiesSpec(CamfleetModel):
    """The authorities and the departments that may request emergency access."""

    emergency: AuthorityMembers = Field(default={}, validate_default=True)
    """The emergency authority (e.g. the city emergency management body): one member's Approve GrantApproval
    authorizes an emergency grant (R12)."""
    classification: AuthorityMembers = Field(default={}, validate_default=True)
    """The classification authority: only its members set or change a camera's `securityLevel` and `shareClass`
    (R10, R13)."""
    legal_hold: AuthorityMembers = Field(default={}, validate_default=True)
    """The legal-hold authority: who may set or lift a recording policy's legal hold (R3)."""
    emergency_departments: Annotated[list[DnsLabel], Field(max_length=256), ListSet()] = Field(default_factory=list)
    """Departments (namespaces) with powers to handle public emergencies: only they may request emergency
    grants (QD-2010 art. 23)."""


class CamfleetAuthoritiesCondition(StrEnum):
    """Condition types CamfleetAuthorities reports: Ready is True once the operator enforces this configuration."""

    READY = "Ready"
    RECONCILING = "Reconciling"
    """kstatus: True while the operator's own work for this generation is under way; the reason says which."""
    STALLED = "Stalled"
    """kstatus: True, with a CamelCase reason and a message, when it cannot proceed until someone changes
    something (Flux then reports Failed, Argo CD Degraded)."""


class CamfleetAuthoritiesStatus(ObjectStatus):
    """Observed state: whether the operator has loaded the configuration."""

    condition_types = CamfleetAuthoritiesCondition

    emergency_members: Integer | None = Field(default=None, ge=0)
    """Users and groups named in the emergency authority."""
    classification_members: Integer | None = Field(default=None, ge=0)
    """Users and groups named in the classification authority."""
    legal_hold_members: Integer | None = Field(default=None, ge=0)
    """Users and groups named in the legal-hold authority."""


class CamfleetAuthorities(CustomResource):
    """Who may authorize emergency access, classify cameras and hold recordings, and which departments may
    request emergency access. One object, named `camfleet`, edited by cluster administrators only."""

    kind: Literal["CamfleetAuthorities"] = "CamfleetAuthorities"
    """Kind of the object: CamfleetAuthorities."""
    spec: CamfleetAuthoritiesSpec
    """The authorities."""
    status: CamfleetAuthoritiesStatus | None = None
    """Observed state, written by the operator."""

    cel_rules = (
        CelRule(
            rule=f"self.metadata.name == '{AUTHORITIES_NAME}'",
            message=f"the authorities are configured once, in the CamfleetAuthorities named {AUTHORITIES_NAME}",
            check=lambda obj: obj.metadata.name in (None, AUTHORITIES_NAME),
            reason="FieldValueInvalid",
        ),
    )
