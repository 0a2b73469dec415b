"""The I/O of handing an extraction's export volume over to the requester's namespace (`export.handover` decides).

Each pass observes one camera's objects (Job and staging claim in the owner's namespace, the claim in the
requester's, the PersistentVolume), asks `handover_step` what to do next, does it, and observes again, until it
must wait (the copy runs, the PV binder has not bound yet), is done, or is refused. A step the API server refuses
becomes a Refuse step with the server's message: nothing is retried blindly, the caller backs off and observes again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim
from lightkube.types import CascadeType, PatchType

from camfleet.api.footage_export import FootageExport
from camfleet.config import FIELD_MANAGER
from camfleet.export.handover import (
    WAITING,
    ClaimFacts,
    HandoverAction,
    HandoverObserved,
    HandoverStep,
    VolumeFacts,
    bind_patch,
    handed_over,
    handed_over_claim,
    handover_step,
    retain_patch,
)
from camfleet.export.job import export_job_namespace, export_labels, export_object_name, handed_over_claim_name
from camfleet.kube.apply import apply, delete_if_present, get_or_none

log = logging.getLogger(__name__)

MAX_STEPS = 8
"""More than the longest path (retain, claim, bind, wait, delete claim, delete Job): a loop is a bug, not progress."""


@dataclass(frozen=True)
class CameraObjects:
    """One camera's observed objects: the facts for the planner, and the bodies the steps are made from."""

    observed: HandoverObserved
    job_status: Mapping[str, Any] | None
    staging_body: Mapping[str, Any] | None


def _as_dict(found: Any) -> dict[str, Any] | None:
    return None if found is None else dict(found.to_dict())


class VolumeHandover:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def observe(self, export: FootageExport, camera: str) -> CameraObjects:
        owner, requester = export_job_namespace(export), str(export.metadata.namespace)
        name = export_object_name(export, camera)
        job = _as_dict(await get_or_none(self._client, Job, name, owner))
        staging = _as_dict(await get_or_none(self._client, PersistentVolumeClaim, name, owner))
        handed_name = handed_over_claim_name(export, camera)
        handed = _as_dict(await get_or_none(self._client, PersistentVolumeClaim, handed_name, requester))
        staging_facts = ClaimFacts.from_dict(staging) if staging else None
        handed_facts = ClaimFacts.from_dict(handed) if handed else None
        job_status = (job.get("status") or {}) if job else None
        observed = HandoverObserved(
            labels=export_labels(export, camera),
            job_present=job is not None,
            job_succeeded=bool(job_status and job_status.get("succeeded")),
            staging=staging_facts,
            handed=handed_facts,
            volume=None,
        )
        # Once camfleet's claim exists in the requester's namespace, it names the volume; before, the staging claim.
        holder = handed_facts if handed_over(observed) else staging_facts
        pointer = holder.volume_name if holder is not None else None
        volume = _as_dict(await get_or_none(self._client, PersistentVolume, pointer)) if pointer else None
        observed = replace(observed, volume=VolumeFacts.from_dict(volume) if volume else None)
        return CameraObjects(observed, job_status, staging)

    async def advance(self, export: FootageExport, camera: str) -> tuple[HandoverStep, CameraObjects]:
        """Take every step that can be taken now; the step it stopped at (Done, a wait or a refusal)."""
        objects = await self.observe(export, camera)
        for _ in range(MAX_STEPS):
            step = handover_step(objects.observed)
            if step.action in (HandoverAction.DONE, HandoverAction.REFUSE, *WAITING):
                return step, objects
            try:
                await self._take(export, camera, step, objects)
            except ApiError as error:
                refused = f"the API server refused to {step.action.value} ({step.why}): {error.status.message}"
                return HandoverStep(HandoverAction.REFUSE, refused), objects
            log.info("export %s/%s camera %s: %s (%s)", export.metadata.namespace, export.metadata.name, camera,
                     step.action.value, step.why)  # fmt: skip
            objects = await self.observe(export, camera)
        return HandoverStep(HandoverAction.REFUSE, f"no end after {MAX_STEPS} steps"), objects

    async def _take(self, export: FootageExport, camera: str, step: HandoverStep, objects: CameraObjects) -> None:
        observed, labels = objects.observed, export_labels(export, camera)
        volume = observed.volume.name if observed.volume else None
        owner, name = export_job_namespace(export), export_object_name(export, camera)
        if step.action is HandoverAction.RETAIN_VOLUME and volume:
            await self._patch_volume(volume, retain_patch(labels))
        elif step.action is HandoverAction.CREATE_CLAIM and volume and objects.staging_body is not None:
            claim_name = handed_over_claim_name(export, camera)
            requester = str(export.metadata.namespace)
            await apply(self._client, handed_over_claim(claim_name, requester, labels, objects.staging_body, volume))
        elif step.action is HandoverAction.BIND_VOLUME and volume and observed.handed is not None:
            await self._patch_volume(volume, bind_patch(observed.handed))
        elif step.action is HandoverAction.DELETE_STAGING_CLAIM:
            await delete_if_present(self._client, PersistentVolumeClaim, name, owner)
        elif step.action is HandoverAction.DELETE_JOB:
            await self._delete_job(name, owner)

    async def _patch_volume(self, name: str, patch: dict[str, Any]) -> None:
        await self._client.patch(PersistentVolume, name, patch, patch_type=PatchType.MERGE, field_manager=FIELD_MANAGER)

    async def _delete_job(self, name: str, namespace: str) -> None:
        """Background: a Job's own default is to orphan its pods, which would keep the staging claim in use."""
        try:
            await self._client.delete(Job, name, namespace=namespace, cascade=CascadeType.BACKGROUND)
        except ApiError as error:
            if error.status.code != 404:
                raise

    async def discard_unfinished(self, export: FootageExport, camera: str) -> HandoverStep:
        """The request is withdrawn: a copy that has not succeeded is deleted with its Job (a partial copy of
        footage the owner still holds, never the retention volume); a succeeded copy is handed over first, as
        evidence is never lost. Done when nothing is left to do in the owner's namespace."""
        objects = await self.observe(export, camera)
        observed = objects.observed
        if observed.job_succeeded or handed_over(observed):
            step, _ = await self.advance(export, camera)
            return step
        owner, name = export_job_namespace(export), export_object_name(export, camera)
        if observed.job_present:
            await self._delete_job(name, owner)
        staging = observed.staging
        if staging is not None and all(staging.labels.get(k) == v for k, v in observed.labels.items()):
            await delete_if_present(self._client, PersistentVolumeClaim, name, owner)
        return HandoverStep(HandoverAction.DONE, f"copy Job and staging claim {owner}/{name} deleted")
