"""Handing an extraction's export volume over to the requester's namespace (R13). Pure: facts in, next step out.

An extraction by level copies the footage in the camera owner's namespace (only there can the retention volume be
mounted) into a staging claim. Once the copy Job has succeeded, the PersistentVolume holding the copy is moved to
the requester's namespace the way Kubernetes moves a volume between namespaces, without copying a byte and with
any provisioner: keep the volume when its claim goes (reclaim policy Retain), make a claim for it in the
requester's namespace (`spec.volumeName`), point the volume's `claimRef` at that claim (the PV binder of
kube-controller-manager then binds it and marks the staging claim Lost), then delete the staging claim and the Job.

Every step is decided from what is observed, so a crash between two steps loses nothing and the next reconcile
goes on from there: the volume is kept (Retain) before anything could release it; the requester's claim, once it
exists, names the volume (`spec.volumeName`), so the pointer survives the staging claim's deletion; the staging
claim is deleted only after the requester's claim is Bound to the volume. Only objects that carry camfleet's labels
for this export are touched: the volume is claimed for the handover only while it is bound (claimRef uid) to the
staging claim camfleet made for this export, and is labelled for it then; every later step needs those labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

RETAIN = "Retain"
BOUND = "Bound"


class HandoverAction(StrEnum):
    """The next thing to do for one camera's export volume."""

    WAIT_FOR_COPY = "WaitForCopy"
    """The copy Job has not succeeded: nothing to hand over yet."""
    RETAIN_VOLUME = "RetainVolume"
    """Set the volume's reclaim policy to Retain and label it for this export."""
    CREATE_CLAIM = "CreateClaim"
    """Create the requester's claim naming the volume."""
    BIND_VOLUME = "BindVolume"
    """Point the volume's claimRef at the requester's claim."""
    WAIT_FOR_BINDING = "WaitForBinding"
    """The PV binder has not yet bound the requester's claim."""
    DELETE_STAGING_CLAIM = "DeleteStagingClaim"
    """Delete the owner-side staging claim (the volume is already the requester's)."""
    DELETE_JOB = "DeleteJob"
    """Delete the owner-side copy Job (its result is recorded in the export's status)."""
    WAIT_FOR_CLEANUP = "WaitForCleanup"
    """The staging claim is being deleted (its protection finalizer waits for the Job's pod to go)."""
    DONE = "Done"
    """The requester's claim is Bound to the volume; nothing is left in the owner's namespace."""
    REFUSE = "Refuse"
    """Something is not as camfleet left it: touch nothing, report why, try again later."""


WAITING = (HandoverAction.WAIT_FOR_COPY, HandoverAction.WAIT_FOR_BINDING, HandoverAction.WAIT_FOR_CLEANUP)


@dataclass(frozen=True)
class ClaimFacts:
    """What the handover needs of a PersistentVolumeClaim."""

    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str] = field(default_factory=dict)
    volume_name: str | None = None
    phase: str | None = None
    deleting: bool = False

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> ClaimFacts:
        meta, spec = body["metadata"], body.get("spec") or {}
        return cls(
            namespace=str(meta["namespace"]),
            name=str(meta["name"]),
            uid=str(meta.get("uid") or ""),
            labels=dict(meta.get("labels") or {}),
            volume_name=spec.get("volumeName") or None,
            phase=(body.get("status") or {}).get("phase"),
            deleting=bool(meta.get("deletionTimestamp")),
        )


@dataclass(frozen=True)
class VolumeFacts:
    """What the handover needs of a PersistentVolume."""

    name: str
    reclaim_policy: str | None
    claim_ref: tuple[str, str, str | None] | None
    """(namespace, name, uid or None) of the claim the volume is bound or pre-bound to."""
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> VolumeFacts:
        spec = body.get("spec") or {}
        ref = spec.get("claimRef")
        claim_ref = (str(ref.get("namespace")), str(ref.get("name")), ref.get("uid") or None) if ref else None
        return cls(
            name=str(body["metadata"]["name"]),
            reclaim_policy=spec.get("persistentVolumeReclaimPolicy"),
            claim_ref=claim_ref,
            labels=dict(body["metadata"].get("labels") or {}),
        )


@dataclass(frozen=True)
class HandoverObserved:
    """One camera's objects as observed now. `labels`: the labels camfleet puts on every object of this export's
    camera (the staging claim, the volume once claimed, the requester's claim)."""

    labels: Mapping[str, str]
    job_present: bool
    job_succeeded: bool
    staging: ClaimFacts | None
    handed: ClaimFacts | None
    volume: VolumeFacts | None
    """The volume named by the requester's claim when it exists, else by the staging claim."""


@dataclass(frozen=True)
class HandoverStep:
    action: HandoverAction
    why: str


def _ours(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in wanted.items())


def handed_over(observed: HandoverObserved) -> bool:
    """Whether camfleet's claim for the copy exists in the requester's namespace (the handover has begun)."""
    return observed.handed is not None and _ours(observed.handed.labels, observed.labels)


def _before_claim(observed: HandoverObserved) -> HandoverStep:
    """No requester's claim yet: the volume must still be the staging claim's, bound and camfleet's."""
    staging, volume = observed.staging, observed.volume
    if not observed.job_succeeded:
        return HandoverStep(HandoverAction.WAIT_FOR_COPY, "the copy Job has not succeeded yet")
    if staging is None:
        return HandoverStep(HandoverAction.REFUSE, "the staging claim is gone and no claim holds the copy")
    where = f"{staging.namespace}/{staging.name}"
    if not _ours(staging.labels, observed.labels):
        return HandoverStep(HandoverAction.REFUSE, f"claim {where} does not carry camfleet's labels for this export")
    if staging.phase != BOUND or not staging.volume_name:
        return HandoverStep(HandoverAction.REFUSE, f"claim {where} is {staging.phase or 'not'} bound, not Bound")
    if volume is None:
        return HandoverStep(HandoverAction.REFUSE, f"PersistentVolume {staging.volume_name} of {where} not found")
    if volume.claim_ref != (staging.namespace, staging.name, staging.uid) and not _ours(volume.labels, observed.labels):
        return HandoverStep(HandoverAction.REFUSE, f"PersistentVolume {volume.name} is not bound to claim {where}")
    if volume.reclaim_policy != RETAIN or not _ours(volume.labels, observed.labels):
        return HandoverStep(HandoverAction.RETAIN_VOLUME, f"keep PersistentVolume {volume.name} when {where} goes")
    return HandoverStep(
        HandoverAction.CREATE_CLAIM, f"claim PersistentVolume {volume.name} in the requester's namespace"
    )


def _after_claim(observed: HandoverObserved, handed: ClaimFacts) -> HandoverStep:
    """The requester's claim exists: it names the volume; bind the volume to it, then clear the owner's side."""
    where = f"{handed.namespace}/{handed.name}"
    volume = observed.volume
    if volume is None:
        return HandoverStep(HandoverAction.REFUSE, f"PersistentVolume {handed.volume_name} named by {where} not found")
    if not _ours(volume.labels, observed.labels):
        return HandoverStep(
            HandoverAction.REFUSE, f"PersistentVolume {volume.name} does not carry camfleet's labels for this export"
        )
    if volume.reclaim_policy != RETAIN:
        return HandoverStep(HandoverAction.RETAIN_VOLUME, f"keep PersistentVolume {volume.name} (Retain)")
    ref = volume.claim_ref
    if ref is None or ref[:2] != (handed.namespace, handed.name) or ref[2] not in (None, handed.uid):
        return HandoverStep(HandoverAction.BIND_VOLUME, f"bind PersistentVolume {volume.name} to {where}")
    if handed.phase != BOUND:
        return HandoverStep(HandoverAction.WAIT_FOR_BINDING, f"claim {where} is {handed.phase or 'new'}, not Bound")
    # Both deletions are asked for before waiting on either: the staging claim's protection finalizer may wait
    # for the Job's pod, which goes only with the Job.
    if observed.staging is not None and not observed.staging.deleting:
        return HandoverStep(HandoverAction.DELETE_STAGING_CLAIM, f"{where} holds the copy")
    if observed.job_present:
        return HandoverStep(HandoverAction.DELETE_JOB, f"{where} holds the copy")
    if observed.staging is not None:
        staging = f"{observed.staging.namespace}/{observed.staging.name}"
        return HandoverStep(HandoverAction.WAIT_FOR_CLEANUP, f"{where} holds the copy; {staging} is being deleted")
    return HandoverStep(HandoverAction.DONE, f"claim {where} is Bound to PersistentVolume {volume.name}")


def handover_step(observed: HandoverObserved) -> HandoverStep:
    """The next step of one camera's handover, from what is observed now."""
    handed = observed.handed
    if handed is None:
        return _before_claim(observed)
    where = f"{handed.namespace}/{handed.name}"
    if not _ours(handed.labels, observed.labels):
        # Someone else's claim has the name the copy lands under: the copy waits where it is, kept (Retain).
        first = _before_claim(observed)
        if first.action in (HandoverAction.WAIT_FOR_COPY, HandoverAction.RETAIN_VOLUME):
            return first
        return HandoverStep(HandoverAction.REFUSE, f"claim {where} exists and is not camfleet's for this export")
    if not handed.volume_name:
        return HandoverStep(HandoverAction.REFUSE, f"claim {where} names no PersistentVolume")
    return _after_claim(observed, handed)


def handed_over_claim(
    name: str, namespace: str, labels: Mapping[str, str], staging: Mapping[str, Any], volume: str
) -> dict[str, Any]:
    """The requester's claim for the volume: the staging claim's size, class, access modes and volume mode, named
    volume. No ownerReference: the copy is evidence handed to a case and outlives the request."""
    spec = staging.get("spec") or {}
    claim_spec: dict[str, Any] = {
        "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
        "volumeMode": spec.get("volumeMode") or "Filesystem",
        "resources": {"requests": dict((spec.get("resources") or {}).get("requests") or {})},
        "volumeName": volume,
        # "" (no class) must stay "": left out, the default class's admission plugin would fill in another.
        "storageClassName": spec.get("storageClassName") or "",
    }
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": claim_spec,
    }


def retain_patch(labels: Mapping[str, str]) -> dict[str, Any]:
    """Merge patch of the volume: kept when its claim goes, labelled for this export."""
    return {"metadata": {"labels": dict(labels)}, "spec": {"persistentVolumeReclaimPolicy": RETAIN}}


def bind_patch(handed: ClaimFacts) -> dict[str, Any]:
    """Merge patch pointing the volume's claimRef at the requester's claim (the staging claim's resourceVersion
    removed, the new claim's uid set, so the binder binds exactly this claim)."""
    ref = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": handed.namespace,
        "name": handed.name,
        "uid": handed.uid or None,
        "resourceVersion": None,
    }
    return {"spec": {"claimRef": ref}}
