"""Extraction by level (R13): who may export another department's cameras, where its Job runs, what it reports."""

from __future__ import annotations

from datetime import timedelta

from camfleet.api.camera import ShareClass
from camfleet.api.footage_export import FootageExportCondition
from camfleet.condition_merge import condition_of
from camfleet.export.extraction import (
    CAMERA_NOT_SHARED,
    NO_EXTRACTION_LEVEL,
    OUTSIDE_TIER_WINDOW,
    RESTRICTED_ZONE,
    SOURCE_CAMERA_NOT_FOUND,
    extraction_verdict,
)
from camfleet.export.job import export_job, export_object_name, export_volume_claim
from camfleet.export.run_approval import ExportDecision, ExportPhase, export_content
from camfleet.export.status import export_status
from tests.unit.access.builders import ME, NOW, OWNER, camera, tier
from tests.unit.export.test_job import GIB, SETTINGS, export

STREET = {"street": camera("street")}
VAULT = {"vault": camera("vault", restricted=True)}


def window(start_hours: float, end_hours: float) -> dict[str, object]:
    start, end = NOW + timedelta(hours=start_hours), NOW + timedelta(hours=end_hours)
    return {"absolute": {"start": start.isoformat(), "end": end.isoformat()}}


def test_level_1_extracts_every_shared_camera_restricted_zones_included() -> None:
    for cameras in (STREET, VAULT):
        verdict = extraction_verdict(ME, cameras, [tier(1, ME)], NOW)
        assert verdict.blocker is None
        assert verdict.level == 1


def test_level_2_extracts_all_but_restricted_zones() -> None:
    assert extraction_verdict(ME, STREET, [tier(2, ME)], NOW).blocker is None
    refused = extraction_verdict(ME, {**STREET, **VAULT}, [tier(2, ME)], NOW).blocker
    assert refused is not None
    assert refused[0] == RESTRICTED_ZONE
    assert f"{OWNER}/vault" in refused[1]
    assert "R13" in refused[1]


def test_levels_3_and_4_and_no_level_do_not_extract() -> None:
    for level in (3, 4):
        refused = extraction_verdict(ME, STREET, [tier(level, ME)], NOW).blocker
        assert refused is not None
        assert refused[0] == NO_EXTRACTION_LEVEL
        assert f"holds level {level}" in refused[1]
    nothing = extraction_verdict(ME, STREET, [tier(1, "someone-else")], NOW)
    assert nothing.blocker is not None
    assert nothing.blocker[0] == NO_EXTRACTION_LEVEL
    assert "holds no level" in nothing.blocker[1]
    assert nothing.level is None


def test_the_level_counts_only_inside_the_tiers_window_and_the_verdict_says_when_to_look_again() -> None:
    later = tier(2, {"department": ME, "windows": [window(2, 5)]})
    before = extraction_verdict(ME, STREET, [later], NOW)
    assert before.blocker is not None
    assert before.blocker[0] == OUTSIDE_TIER_WINDOW
    assert "R14" in before.blocker[1]
    assert before.recheck_at == NOW + timedelta(hours=2)
    inside = extraction_verdict(ME, STREET, [later], NOW + timedelta(hours=3))
    assert inside.blocker is None
    assert inside.recheck_at == NOW + timedelta(hours=5), "looked at again when the window closes"
    after = extraction_verdict(ME, STREET, [later], NOW + timedelta(hours=6))
    assert after.blocker is not None
    assert after.blocker[0] == OUTSIDE_TIER_WINDOW


def test_a_level_3_held_now_does_not_stand_in_for_a_closed_level_2_window() -> None:
    tiers = [tier(3, ME), tier(2, {"department": ME, "windows": [window(-5, -1)]})]
    verdict = extraction_verdict(ME, STREET, tiers, NOW)
    assert verdict.blocker is not None
    assert verdict.blocker[0] == OUTSIDE_TIER_WINDOW
    assert verdict.level == 3


def test_no_level_reaches_a_not_shared_camera_and_an_unknown_camera_is_refused() -> None:
    private = {"desk": camera("desk", share_class=ShareClass.NOT_SHARED)}
    refused = extraction_verdict(ME, private, [tier(1, ME)], NOW).blocker
    assert refused is not None
    assert refused[0] == CAMERA_NOT_SHARED
    missing = extraction_verdict(ME, {"ghost": None}, [tier(1, ME)], NOW).blocker
    assert missing is not None
    assert missing[0] == SOURCE_CAMERA_NOT_FOUND
    assert "ghost" in missing[1]


def test_an_extractions_job_and_volume_run_in_the_owners_namespace_and_name_the_requester() -> None:
    requested = export(sourceNamespace="harbour", documentReference="DOC-1")
    requester = str(requested.metadata.namespace)
    camera_name = requested.spec.cameras[0]
    job = export_job(requested, camera_name, "retention", SETTINGS)
    claim = export_volume_claim(requested, camera_name, GIB, SETTINGS)
    assert job["metadata"]["namespace"] == claim["metadata"]["namespace"] == "harbour"
    assert job["metadata"]["name"].startswith(f"{requester}-")
    assert job["metadata"]["name"] == claim["metadata"]["name"] == export_object_name(requested, camera_name)
    assert job["metadata"]["labels"]["camfleet.io/export-namespace"] == requester
    assert "ownerReferences" not in job["metadata"], "an ownerReference cannot cross namespaces"
    own = export_job(export(), camera_name, "retention", SETTINGS)
    assert own["metadata"]["namespace"] == requester
    assert own["metadata"]["ownerReferences"][0]["kind"] == "FootageExport"
    assert "camfleet.io/export-namespace" not in own["metadata"]["labels"]


def test_the_document_reference_is_part_of_what_approvals_bind_to_and_old_digests_stay() -> None:
    plain = export_content(export().spec)
    assert "sourceNamespace" not in plain
    assert "documentReference" not in plain, "exports made before extraction by level keep their digest"
    extracted = export_content(export(sourceNamespace="harbour", documentReference="DOC-1").spec)
    assert extracted["documentReference"] == "DOC-1"
    assert extracted["sourceNamespace"] == "harbour"


def test_a_refused_extraction_is_stalled_with_its_reason_and_an_approved_one_reports_the_owners_volume() -> None:
    approved = ExportDecision(ExportPhase.APPROVED, ("alice", "bob"), "approved by alice, bob (R15)")
    blocked = (RESTRICTED_ZONE, "camera harbour/vault may not be extracted at level 2")
    status, _ = export_status(None, 1, approved, {}, [], NOW, blocked)
    completed = condition_of(status.conditions, FootageExportCondition.COMPLETED)
    stalled = condition_of(status.conditions, FootageExportCondition.STALLED)
    assert completed is not None
    assert stalled is not None
    assert (completed.status, completed.reason) == ("False", RESTRICTED_ZONE)
    assert (stalled.status, stalled.reason) == ("True", RESTRICTED_ZONE)
    running, _ = export_status(None, 1, approved, {"x-export": {"active": 1}}, ["x-export"], NOW, None, "harbour")
    assert running.volume_namespace == "harbour"
    assert running.persistent_volume_claim == "x-export"
