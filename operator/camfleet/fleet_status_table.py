"""The fleet at a glance, per department (namespace): what `camfleet status` prints. Pure: bodies in, text out.

Everything is read from what the operator reported in status conditions, the same facts the alerts and
Argo CD health checks use, so the three never disagree:

- online: `Reachable=True`; ready: `Ready=True`; recording: `Recording=True`;
- filing overdue: `Filed=False` with reason `FilingOverdue` (R5); signage unconfirmed: `Signage=False` (R6);
- approvals pending: grants on the department's cameras with `Approved=Unknown`, i.e. waiting for the
  department to answer (counted for the camera owner, who must approve, not for the grantee); overdue
  when the reason is `ApprovalOverdue` (R11);
- grants expiring: the department's own grants with `Active=True` whose hard expiry (the period's end,
  for emergencies at most 72 hours after the start, R12) falls within the horizon;
- PTZ held: the department's cameras whose `status.ptzControl` names a holder (R13; who, at which rank and
  any lock: `kubectl get camera -o jsonpath='{.status.ptzControl}'`, or the JSON output's `ptzControl`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from camfleet.access.grants import hard_expiry
from camfleet.api.sharing_grant import SharingGrantSpec
from camfleet.condition_merge import READY, rfc3339, stored_condition

EXPIRING_WITHIN = timedelta(hours=24)

Body = Mapping[str, Any]
COUNTERS = ("cameras", "online", "ready", "recording", "policies", "policies_ready")
LIST_FIELDS = (
    "offline",
    "filings_overdue",
    "signage_unconfirmed",
    "approvals_pending",
    "approvals_overdue",
    "grants_expiring",
    "ptz_held",
)


@dataclass
class DepartmentSummary:
    """One department's figures; the lists hold `namespace/name` of the objects concerned."""

    department: str
    cameras: int = 0
    online: int = 0
    ready: int = 0
    recording: int = 0
    policies: int = 0
    policies_ready: int = 0
    offline: list[str] = field(default_factory=list)
    filings_overdue: list[str] = field(default_factory=list)
    signage_unconfirmed: list[str] = field(default_factory=list)
    approvals_pending: list[str] = field(default_factory=list)
    approvals_overdue: list[str] = field(default_factory=list)
    grants_expiring: list[str] = field(default_factory=list)
    ptz_held: list[str] = field(default_factory=list)
    ptz_holders: dict[str, Any] = field(default_factory=dict)
    """camera namespace/name -> its `status.ptzControl` as reported."""

    @property
    def online_rate(self) -> float | None:
        """Share of cameras online; None without cameras (no rate rather than a misleading 0 %)."""
        return self.online / self.cameras if self.cameras else None

    def add(self, other: DepartmentSummary) -> None:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in LIST_FIELDS:
            getattr(self, name).extend(getattr(other, name))
        self.ptz_holders.update(other.ptz_holders)

    def to_json(self) -> dict[str, Any]:
        rate = self.online_rate
        return {
            "department": self.department,
            "cameras": self.cameras,
            "online": self.online,
            "onlineRate": round(rate, 4) if rate is not None else None,
            "ready": self.ready,
            "recording": self.recording,
            "filingsOverdue": len(self.filings_overdue),
            "signageUnconfirmed": len(self.signage_unconfirmed),
            "policies": self.policies,
            "policiesReady": self.policies_ready,
            "approvalsPending": len(self.approvals_pending),
            "approvalsOverdue": len(self.approvals_overdue),
            "grantsExpiring": len(self.grants_expiring),
            "ptzHeld": len(self.ptz_held),
            "objects": {_camel(name): sorted(getattr(self, name)) for name in LIST_FIELDS},
            "ptzControl": dict(sorted(self.ptz_holders.items())),
        }


@dataclass(frozen=True)
class FleetSummary:
    at: datetime
    expiring_within: timedelta
    departments: list[DepartmentSummary]
    total: DepartmentSummary


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _is(body: Body, kind: str, status: str, reason: str | None = None) -> bool:
    found = stored_condition(body.get("status"), kind)
    return found.get("status") == status and (reason is None or found.get("reason") == reason)


def _key(body: Body) -> str:
    return f"{body['metadata'].get('namespace')}/{body['metadata']['name']}"


def _expiry(grant: Body) -> datetime | None:
    try:
        return hard_expiry(SharingGrantSpec.model_validate(grant.get("spec") or {}))
    except ValidationError:
        return None  # written by a newer CRD than this command knows: leave it out rather than guess


def _count_camera(row: DepartmentSummary, camera: Body) -> None:
    row.cameras += 1
    if _is(camera, "Reachable", "True"):
        row.online += 1
    else:
        row.offline.append(_key(camera))
    row.ready += int(_is(camera, READY, "True"))
    row.recording += int(_is(camera, "Recording", "True"))
    if _is(camera, "Filed", "False", "FilingOverdue"):
        row.filings_overdue.append(_key(camera))
    if _is(camera, "Signage", "False"):
        row.signage_unconfirmed.append(_key(camera))
    holder = (camera.get("status") or {}).get("ptzControl")
    if holder:
        row.ptz_held.append(_key(camera))
        row.ptz_holders[_key(camera)] = holder


def summarize(
    cameras: Iterable[Body],
    policies: Iterable[Body],
    grants: Iterable[Body],
    now: datetime,
    expiring_within: timedelta = EXPIRING_WITHIN,
) -> FleetSummary:
    departments: dict[str, DepartmentSummary] = {}

    def department(name: str) -> DepartmentSummary:
        return departments.setdefault(name, DepartmentSummary(name))

    for camera in cameras:
        _count_camera(department(camera["metadata"]["namespace"]), camera)

    for policy in policies:
        row = department(policy["metadata"]["namespace"])
        row.policies += 1
        row.policies_ready += int(_is(policy, READY, "True"))

    for grant in grants:
        grantee = department(grant["metadata"]["namespace"])  # a department with grants only still gets a row
        if _is(grant, "Approved", "Unknown"):
            owner = department((grant.get("spec") or {}).get("cameras", {}).get("namespace", "?"))
            owner.approvals_pending.append(_key(grant))
            if _is(grant, "Approved", "Unknown", "ApprovalOverdue"):
                owner.approvals_overdue.append(_key(grant))
        if _is(grant, "Active", "True"):
            expiry = _expiry(grant)
            if expiry is not None and expiry <= now + expiring_within:
                grantee.grants_expiring.append(_key(grant))

    rows = [departments[name] for name in sorted(departments)]
    total = DepartmentSummary("TOTAL")
    for row in rows:
        total.add(row)
    return FleetSummary(now, expiring_within, rows, total)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g}H"


def render_table(summary: FleetSummary) -> str:
    """kubectl-style columns, one row per department and a total."""
    header = [
        "DEPARTMENT",
        "CAMERAS",
        "ONLINE",
        "RATE",
        "READY",
        "RECORDING",
        "FILING-OVERDUE",
        "NO-SIGNAGE",
        "POLICIES-READY",
        "APPROVALS-PENDING",
        "OVERDUE",
        f"EXPIRING-{_hours(summary.expiring_within)}",
        "PTZ-HELD",
    ]
    rows = [header]
    for row in [*summary.departments, summary.total]:
        rows.append(
            [
                row.department,
                str(row.cameras),
                str(row.online),
                _percent(row.online_rate),
                str(row.ready),
                str(row.recording),
                str(len(row.filings_overdue)),
                str(len(row.signage_unconfirmed)),
                f"{row.policies_ready}/{row.policies}",
                str(len(row.approvals_pending)),
                str(len(row.approvals_overdue)),
                str(len(row.grants_expiring)),
                str(len(row.ptz_held)),
            ]
        )
    widths = [max(len(cells[column]) for cells in rows) for column in range(len(header))]
    lines = [
        "   ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip() for cells in rows
    ]
    return "\n".join(lines) + "\n"


def render_json(summary: FleetSummary) -> str:
    document = {
        "generatedAt": rfc3339(summary.at),
        "expiringWithinHours": summary.expiring_within.total_seconds() / 3600,
        "departments": [row.to_json() for row in summary.departments],
        "total": summary.total.to_json(),
    }
    return json.dumps(document, indent=2) + "\n"
