"""The authorities' pure rules: emergency departments and the incident budget (R12), classification (R10, R13),
the CamfleetAuthorities status, and the ledger that names who reclassified a camera."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from camfleet.access.authorities import (
    Classification,
    ClassificationLedger,
    authorities_status,
    classification_refusal,
    covered_time,
    emergency_request_refusal,
    incident_budget_refusal,
)
from camfleet.access.grant_status import reclassified
from camfleet.api.authorities import CamfleetAuthorities
from camfleet.api.camera import SecurityLevel, ShareClass
from camfleet.api.common import Period
from camfleet.api.sharing_grant import EffectiveCamera, SharingGrantStatus

T0 = datetime(2030, 8, 10, 6, tzinfo=UTC)
AUTHORITIES = CamfleetAuthorities.model_validate(
    {
        "metadata": {"name": "camfleet"},
        "spec": {
            "emergency": {"groups": ["emc"]},
            "classification": {"users": ["clerk"], "groups": ["classifiers"]},
            "emergencyDepartments": ["police"],
        },
    }
)
DEFAULT = Classification(SecurityLevel.STANDARD, ShareClass.CONDITIONAL, "basis")
SECRET = Classification(SecurityLevel.RESTRICTED, ShareClass.NOT_SHARED, "basis")


def period(start_hours: float, hours: float) -> Period:
    start = T0 + timedelta(hours=start_hours)
    return Period(start=start, end=start + timedelta(hours=hours))


def test_only_listed_departments_request_emergency_access() -> None:
    assert emergency_request_refusal("police", AUTHORITIES) is None
    refusal = emergency_request_refusal("parks", AUTHORITIES)
    assert refusal is not None
    assert "(emergency rule R12)" in refusal
    assert "no CamfleetAuthorities" in str(emergency_request_refusal("police", None))


def test_an_incident_gets_72_hours_in_all_and_overlaps_count_once() -> None:
    assert covered_time([(T0, T0 + timedelta(hours=2)), (T0 + timedelta(hours=1), T0 + timedelta(hours=3))]) == (
        timedelta(hours=3)
    )
    assert incident_budget_refusal("I", period(0, 72), []) is None
    assert incident_budget_refusal("I", period(10, 40), [period(0, 72)]) is None, "inside the first: spent once"
    refusal = incident_budget_refusal("I", period(70, 10), [period(0, 72)])
    assert refusal is not None
    assert "80.0 hours" in refusal
    assert "(emergency rule R12)" in refusal
    # Two grants of 48 h back to back: the renewal of a moved period under a new name is refused too.
    assert incident_budget_refusal("I", period(48, 48), [period(0, 48)]) is not None


def test_defaults_are_anyones_every_other_classification_is_the_authoritys() -> None:
    assert classification_refusal(None, DEFAULT, "alice", ["dept"], AUTHORITIES) is None
    refusal = classification_refusal(None, SECRET, "alice", ["dept"], AUTHORITIES)
    assert refusal is not None
    assert "only the classification authority (user clerk, group classifiers)" in refusal
    assert "(classification rule R10, R13)" in refusal
    assert classification_refusal(DEFAULT, SECRET, "alice", ["dept"], AUTHORITIES) is not None
    assert classification_refusal(DEFAULT, SECRET, "clerk", [], AUTHORITIES) is None
    assert classification_refusal(DEFAULT, SECRET, "bob", ["classifiers"], AUTHORITIES) is None
    assert classification_refusal(DEFAULT, SECRET, "root", ["system:masters"], None) is None
    assert classification_refusal(SECRET, SECRET, "alice", [], AUTHORITIES) is None, "unchanged: anyone edits"
    assert classification_refusal(SECRET, DEFAULT, "alice", [], None) is not None, "a downgrade too"
    moved_basis = Classification(SecurityLevel.STANDARD, ShareClass.CONDITIONAL, "another law")
    assert classification_refusal(DEFAULT, moved_basis, "alice", [], AUTHORITIES) is not None


def test_the_ledger_names_who_the_webhook_admitted() -> None:
    ledger = ClassificationLedger()
    key = ("owner", "gate")
    assert ledger.observe(key, DEFAULT) is None
    ledger.admitted(key, "clerk")
    assert ledger.observe(key, SECRET) == (DEFAULT, SECRET, "clerk")
    assert ledger.observe(key, SECRET) is None
    change = ledger.observe(key, DEFAULT)
    assert change is not None
    assert "audit record" in change[2]


def test_grants_report_cameras_withdrawn_by_a_reclassification() -> None:
    current = SharingGrantStatus(effective_cameras=[EffectiveCamera(namespace="owner", name="gate")])
    condition, names = reclassified(current, {"gate": "camera is NotShared", "never-had": "camera is NotShared"})
    assert (condition.status, condition.reason, names) == ("True", "CameraReclassified", ["gate"])
    # Reported once, it stays reported while withheld (the camera is no longer effective).
    later = SharingGrantStatus(reclassified_cameras=["gate"])
    assert reclassified(later, {"gate": "camera is NotShared"})[1] == ["gate"]
    assert reclassified(later, {})[0].status == "False"


def test_the_status_counts_the_members() -> None:
    status = authorities_status(None, AUTHORITIES, 3, T0)
    assert (status.emergency_members, status.classification_members, status.legal_hold_members) == (1, 2, 0)
    assert status.conditions[0].reason == "Enforced"
    assert status.observed_generation == 3
