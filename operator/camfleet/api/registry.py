"""Every camfleet kind with its names, scope, model, printer columns and selectable fields."""

from __future__ import annotations

from dataclasses import dataclass, field

from camfleet.api.access_tier import AccessTier
from camfleet.api.authorities import CamfleetAuthorities
from camfleet.api.base import CustomResource
from camfleet.api.camera import Camera
from camfleet.api.constants import GROUP
from camfleet.api.footage_export import FootageExport
from camfleet.api.grant_approval import GrantApproval
from camfleet.api.recording_policy import RecordingPolicy
from camfleet.api.sharing_grant import SharingGrant


@dataclass(frozen=True)
class PrinterColumn:
    """One column of `kubectl get`."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    """0: shown by default; 1: only with `-o wide`."""

    def crd(self) -> dict[str, object]:
        column: dict[str, object] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            column["description"] = self.description
        if self.priority:
            column["priority"] = self.priority
        return column


def condition_column(condition: str, field_name: str = "status", name: str | None = None) -> PrinterColumn:
    return PrinterColumn(
        name=name or condition,
        json_path=f'.status.conditions[?(@.type=="{condition}")].{field_name}',
        description=f"{field_name} of the {condition} condition",
    )


READY = condition_column("Ready")
REASON = condition_column("Ready", "reason", name="Reason")
AGE = PrinterColumn("Age", ".metadata.creationTimestamp", type="date")


@dataclass(frozen=True)
class KindInfo:
    """A kind's names and scope, as the CRD declares them."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    namespaced: bool
    model: type[CustomResource]
    key_columns: tuple[PrinterColumn, ...] = ()
    """Columns shown before Ready, Reason and Age."""
    selectable_fields: tuple[str, ...] = field(default=())
    """JSON paths usable with `kubectl get --field-selector`."""

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"

    @property
    def printer_columns(self) -> tuple[PrinterColumn, ...]:
        return (*self.key_columns, READY, REASON, AGE)


KINDS: list[KindInfo] = [
    KindInfo(
        kind="Camera",
        plural="cameras",
        singular="camera",
        short_names=("cam",),
        namespaced=True,
        model=Camera,
        key_columns=(
            PrinterColumn("Site", ".spec.site"),
            PrinterColumn("Location", ".spec.location.category"),
            PrinterColumn("Share", ".spec.shareClass"),
            PrinterColumn("Security", ".spec.securityLevel"),
            PrinterColumn("Endpoint", ".spec.endpoint", priority=1),
            PrinterColumn("Model", ".status.device.model", priority=1),
            PrinterColumn("Firmware", ".status.device.firmware", priority=1),
        ),
        selectable_fields=(".spec.site", ".spec.location.category", ".spec.shareClass", ".spec.securityLevel"),
    ),
    KindInfo(
        kind="RecordingPolicy",
        plural="recordingpolicies",
        singular="recordingpolicy",
        short_names=("recpol",),
        namespaced=True,
        model=RecordingPolicy,
        key_columns=(
            PrinterColumn("Retention", ".spec.retentionDays", type="integer", description="days recordings are kept"),
            PrinterColumn("Segment", ".spec.segmentSeconds", type="integer", description="seconds per segment"),
            PrinterColumn("Cameras", ".status.selectedCameras", type="integer"),
            PrinterColumn("Hold", ".spec.legalHold.enabled", type="boolean", description="legal hold"),
        ),
    ),
    KindInfo(
        kind="SharingGrant",
        plural="sharinggrants",
        singular="sharinggrant",
        short_names=("grant", "grants"),
        namespaced=True,
        model=SharingGrant,
        key_columns=(
            PrinterColumn("Owner", ".spec.cameras.namespace", description="department owning the cameras"),
            PrinterColumn("Class", ".spec.shareClass"),
            PrinterColumn("Incident", ".spec.emergency.incidentReference", description="set for emergency grants"),
            # Strings, not dates: kubectl prints a future date as "<invalid>" instead of the time.
            PrinterColumn("Start", ".spec.period.start", priority=1),
            PrinterColumn("End", ".spec.period.end", description="access ends at this time"),
            condition_column("Approved"),
            condition_column("Active"),
        ),
        selectable_fields=(".spec.cameras.namespace", ".spec.shareClass"),
    ),
    KindInfo(
        kind="GrantApproval",
        plural="grantapprovals",
        singular="grantapproval",
        short_names=("approval", "approvals"),
        namespaced=True,
        model=GrantApproval,
        key_columns=(
            PrinterColumn("Target-Kind", ".spec.target.kind"),
            PrinterColumn("Target", ".spec.target.name"),
            PrinterColumn("Verdict", ".spec.verdict"),
            PrinterColumn("Approver", ".status.approver.username"),
        ),
        selectable_fields=(".spec.target.name", ".spec.verdict"),
    ),
    KindInfo(
        kind="AccessTier",
        plural="accesstiers",
        singular="accesstier",
        short_names=("tier", "tiers"),
        namespaced=False,
        model=AccessTier,
        key_columns=(
            PrinterColumn("Level", ".spec.level", type="integer"),
            # A column shows one value of a [*] path, so the list of holders comes from status, whole.
            PrinterColumn("Active", ".status.activeDepartments", description="departments holding the level now"),
            PrinterColumn("Description", ".spec.description", priority=1),
        ),
        selectable_fields=(".spec.level",),
    ),
    KindInfo(
        kind="FootageExport",
        plural="footageexports",
        singular="footageexport",
        short_names=("export", "exports"),
        namespaced=True,
        model=FootageExport,
        key_columns=(
            PrinterColumn("Cameras", ".spec.cameras"),
            PrinterColumn("Case", ".spec.caseReference"),
            condition_column("Approved"),
            condition_column("Completed"),
            PrinterColumn("SHA256", ".status.manifestSha256", priority=1),
        ),
    ),
    KindInfo(
        kind="CamfleetAuthorities",
        plural="camfleetauthorities",
        singular="camfleetauthority",
        short_names=("authorities",),
        namespaced=False,
        model=CamfleetAuthorities,
        key_columns=(
            PrinterColumn(
                "Emergency-Departments",
                ".spec.emergencyDepartments",
                description="departments that may request emergency access",
            ),
            PrinterColumn(
                "Emergency-Authority", ".spec.emergency.groups", description="groups forming the emergency authority"
            ),
        ),
    ),
]


def kind_info(kind: str) -> KindInfo:
    """The descriptor of `kind`, e.g. "Camera"."""
    for info in KINDS:
        if info.kind == kind:
            return info
    raise KeyError(f"unknown camfleet kind {kind!r}; known: {', '.join(info.kind for info in KINDS)}")
