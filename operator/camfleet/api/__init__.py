"""The camfleet API: pydantic models of every kind, the single source of the CRDs.

JSON (and YAML) field names are camelCase; Python attributes are snake_case. Spec models accept
exactly what the API server accepts, CEL rules included, except transition rules such as R9
("location cannot change"), which compare two versions of an object and only the API server sees.
"""

from camfleet.api.access_tier import AccessTier, AccessTierSpec, AccessTierStatus
from camfleet.api.authorities import CamfleetAuthorities, CamfleetAuthoritiesSpec
from camfleet.api.camera import Camera, CameraSpec, CameraStatus
from camfleet.api.conditions import Condition, ConditionStatus
from camfleet.api.constants import API_VERSION, GROUP, VERSION
from camfleet.api.footage_export import FootageExport, FootageExportSpec, FootageExportStatus
from camfleet.api.grant_approval import GrantApproval, GrantApprovalSpec, GrantApprovalStatus
from camfleet.api.recording_policy import RecordingPolicy, RecordingPolicySpec, RecordingPolicyStatus
from camfleet.api.registry import KINDS, KindInfo, kind_info
from camfleet.api.sharing_grant import SharingGrant, SharingGrantSpec, SharingGrantStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "KINDS",
    "VERSION",
    "AccessTier",
    "AccessTierSpec",
    "AccessTierStatus",
    "Camera",
    "CameraSpec",
    "CameraStatus",
    "CamfleetAuthorities",
    "CamfleetAuthoritiesSpec",
    "Condition",
    "ConditionStatus",
    "FootageExport",
    "FootageExportSpec",
    "FootageExportStatus",
    "GrantApproval",
    "GrantApprovalSpec",
    "GrantApprovalStatus",
    "KindInfo",
    "RecordingPolicy",
    "RecordingPolicySpec",
    "RecordingPolicyStatus",
    "SharingGrant",
    "SharingGrantSpec",
    "SharingGrantStatus",
    "kind_info",
]
