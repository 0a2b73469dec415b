"""Handing an extraction's copy over to the requester's namespace: the next step from what is observed, so that a
crash between any two steps is finished by the next pass and nothing camfleet did not make is touched."""

from __future__ import annotations

from dataclasses import replace

import pytest

from camfleet.export.handover import (
    ClaimFacts,
    HandoverAction,
    HandoverObserved,
    VolumeFacts,
    bind_patch,
    handed_over_claim,
    handover_step,
    retain_patch,
)

A = HandoverAction
LABELS = {"app.kubernetes.io/managed-by": "camfleet", "camfleet.io/export": "quay-case",
          "camfleet.io/camera": "quay", "camfleet.io/export-namespace": "cid"}  # fmt: skip
STAGING = ClaimFacts("harbour", "cid-quay-case-export", "uid-s", LABELS, "pv-1", "Bound")
HANDED = ClaimFacts("cid", "quay-case-export", "uid-r", LABELS, "pv-1", "Pending")
PROVISIONED = VolumeFacts("pv-1", "Delete", ("harbour", "cid-quay-case-export", "uid-s"))
RETAINED = replace(PROVISIONED, reclaim_policy="Retain", labels=LABELS)
MOVED = replace(RETAINED, claim_ref=("cid", "quay-case-export", "uid-r"))


def observed(
    staging: ClaimFacts | None = STAGING,
    handed: ClaimFacts | None = None,
    volume: VolumeFacts | None = PROVISIONED,
    job: bool = True,
    succeeded: bool = True,
) -> HandoverObserved:
    return HandoverObserved(LABELS, job, succeeded, staging, handed, volume)


# Every state the handover passes through, in order: each is what a crash right after the previous step leaves.
@pytest.mark.parametrize(
    ("state", "action"),
    [
        (observed(succeeded=False), A.WAIT_FOR_COPY),
        (observed(), A.RETAIN_VOLUME),
        (observed(volume=RETAINED), A.CREATE_CLAIM),
        (observed(volume=RETAINED, handed=HANDED), A.BIND_VOLUME),
        (observed(volume=MOVED, handed=HANDED, staging=replace(STAGING, phase="Lost")), A.WAIT_FOR_BINDING),
        (observed(volume=MOVED, handed=replace(HANDED, phase="Bound"), staging=replace(STAGING, phase="Lost")),
         A.DELETE_STAGING_CLAIM),
        (observed(volume=MOVED, handed=replace(HANDED, phase="Bound"), staging=replace(STAGING, deleting=True)),
         A.DELETE_JOB),
        (observed(volume=MOVED, handed=replace(HANDED, phase="Bound"), staging=replace(STAGING, deleting=True),
                  job=False), A.WAIT_FOR_CLEANUP),
        (observed(volume=MOVED, handed=replace(HANDED, phase="Bound"), staging=None), A.DELETE_JOB),
        (observed(volume=MOVED, handed=replace(HANDED, phase="Bound"), staging=None, job=False), A.DONE),
    ],
)  # fmt: skip
def test_each_observed_state_has_one_next_step(state: HandoverObserved, action: HandoverAction) -> None:
    assert handover_step(state).action is action


def test_the_binder_may_fill_in_the_uid_of_a_prebound_claim() -> None:
    prebound = replace(MOVED, claim_ref=("cid", "quay-case-export", None))
    bound = replace(HANDED, phase="Bound")
    assert handover_step(observed(volume=prebound, handed=bound, staging=None, job=False)).action is A.DONE


def test_a_volume_set_back_to_delete_after_the_claim_is_set_to_retain_again() -> None:
    changed = replace(MOVED, reclaim_policy="Delete")
    assert handover_step(observed(volume=changed, handed=HANDED)).action is A.RETAIN_VOLUME


def test_a_recreated_requesters_claim_gets_the_volume_bound_to_its_new_uid() -> None:
    recreated = replace(HANDED, uid="uid-r2")
    step = handover_step(observed(volume=MOVED, handed=recreated))
    assert step.action is A.BIND_VOLUME
    assert bind_patch(recreated)["spec"]["claimRef"]["uid"] == "uid-r2"


@pytest.mark.parametrize(
    ("state", "why"),
    [
        # Someone else's claim of the same name in the requester's namespace: never bound to the evidence.
        (observed(volume=RETAINED, handed=replace(HANDED, labels={}, volume_name=None)), "not camfleet's"),
        # A volume bound to another claim than camfleet's staging claim: never touched.
        (observed(volume=replace(PROVISIONED, claim_ref=("harbour", "other", "uid-o"))), "not bound to claim"),
        # A staging claim without camfleet's labels for this export.
        (observed(staging=replace(STAGING, labels={"camfleet.io/export": "other"})), "camfleet's labels"),
        # The requester's claim names a volume camfleet never labelled for this export.
        (observed(volume=PROVISIONED, handed=HANDED), "camfleet's labels"),
        (observed(volume=None), "not found"),
        (observed(volume=None, handed=HANDED), "not found"),
        (observed(staging=None, succeeded=True), "no claim holds the copy"),
        (observed(staging=replace(STAGING, phase="Pending", volume_name=None)), "not Bound"),
    ],
)  # fmt: skip
def test_what_camfleet_did_not_make_or_cannot_find_is_refused_and_left_alone(state: HandoverObserved, why: str) -> None:
    step = handover_step(state)
    assert step.action is A.REFUSE
    assert why in step.why


def test_the_requesters_claim_asks_for_exactly_the_staging_volume() -> None:
    staging = {"spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem", "storageClassName": "enc",
                        "resources": {"requests": {"storage": "3Gi"}}}}  # fmt: skip
    claim = handed_over_claim("quay-case-export", "cid", LABELS, staging, "pv-1")
    assert claim["metadata"] == {"name": "quay-case-export", "namespace": "cid", "labels": LABELS}
    assert "ownerReferences" not in claim["metadata"], "evidence outlives the request"
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem", "volumeName": "pv-1",
                             "storageClassName": "enc", "resources": {"requests": {"storage": "3Gi"}}}  # fmt: skip


def test_patches_keep_the_volume_and_clear_the_staging_claims_version() -> None:
    assert retain_patch(LABELS) == {"metadata": {"labels": LABELS}, "spec": {"persistentVolumeReclaimPolicy": "Retain"}}
    ref = bind_patch(replace(HANDED, phase="Bound"))["spec"]["claimRef"]
    assert (ref["namespace"], ref["name"], ref["uid"]) == ("cid", "quay-case-export", "uid-r")
    assert ref["resourceVersion"] is None, "the staging claim's resourceVersion is removed (merge patch)"


def test_facts_are_read_from_api_objects() -> None:
    claim = {"metadata": {"namespace": "cid", "name": "c", "uid": "u", "labels": LABELS},
             "spec": {"volumeName": "pv-1"}, "status": {"phase": "Bound"}}  # fmt: skip
    assert ClaimFacts.from_dict(claim) == ClaimFacts("cid", "c", "u", LABELS, "pv-1", "Bound")
    volume = {"metadata": {"name": "pv-1"}, "spec": {"persistentVolumeReclaimPolicy": "Retain",
              "claimRef": {"namespace": "cid", "name": "c"}}}  # fmt: skip
    assert VolumeFacts.from_dict(volume) == VolumeFacts("pv-1", "Retain", ("cid", "c", None), {})


def test_someone_elses_claim_under_the_landing_name_does_not_stop_the_copy_nor_keeping_it() -> None:
    squatter = replace(HANDED, labels={}, volume_name=None)
    assert handover_step(observed(handed=squatter, succeeded=False)).action is A.WAIT_FOR_COPY
    assert handover_step(observed(handed=squatter)).action is A.RETAIN_VOLUME, "the copy is kept first"
    assert handover_step(observed(handed=squatter, volume=RETAINED)).action is A.REFUSE
