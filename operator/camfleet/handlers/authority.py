"""Authority handlers: the CamfleetAuthorities status, and the admission checks that need an authority.

- Emergency requests (R12): only departments on `spec.emergencyDepartments` may create an emergency grant,
  and one incident gets at most 72 hours of emergency access across all its grants, deleted ones included (the
  incident ledger, `access.incident_ledger`; other objects are needed to judge that, so CEL cannot). Its
  authorization is an Approve GrantApproval by a member of the emergency authority, counted by the grant
  lifecycle.
- Classification (R10, R13): only the classification authority sets or changes a camera's security level and
  share class; every change is audited with who, old and new, and the camera gets an Event.

The checks read the authorities from memory (`AuthoritiesStore`, followed by every replica) and the identity
from the admission request. A refusal names the rule and is written to the audit trail with who tried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf
from lightkube import ALL_NS
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType
from pydantic import ValidationError

from camfleet.access.authorities import (
    Classification,
    authorities_status,
    classification_refusal,
    emergency_request_refusal,
    incident_budget_refusal,
)
from camfleet.access.incident_ledger import LEDGER_NAME, recorded_periods, with_grant
from camfleet.api import GROUP, VERSION
from camfleet.api.authorities import AUTHORITIES_NAME, CamfleetAuthorities, CamfleetAuthoritiesStatus
from camfleet.api.camera import CameraSpec
from camfleet.api.common import Period
from camfleet.api.sharing_grant import SharingGrantSpec
from camfleet.kube.apply import get_or_none
from camfleet.kube.resources import RESOURCES
from camfleet.kube.status import write_status
from camfleet.observability.audit import audit
from camfleet.operator_context import OperatorContext
from camfleet.recording.workloads import COMPONENT_LABEL, MANAGED_BY

LEDGER_ATTEMPTS = 5


@kopf.on.event(GROUP, VERSION, "camfleetauthorities")
async def authorities_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    if event["type"] == "DELETED":
        audit("AuthoritiesRemoved", "CamfleetAuthorities " + event["object"]["metadata"]["name"], "removed")
        return
    body = event["object"]
    try:
        authorities = CamfleetAuthorities.model_validate(body)
    except ValidationError:
        return
    stored = body.get("status")
    current = CamfleetAuthoritiesStatus.model_validate(stored) if stored else None
    generation = int(str(body["metadata"].get("generation") or 0))
    status = authorities_status(current, authorities, generation, memo.clock.now())
    if current is None or current.observed_generation != generation:
        spec = authorities.spec
        audit(
            "AuthoritiesConfigured",
            f"CamfleetAuthorities {body['metadata']['name']}",
            "enforced",
            f"generation {generation}",
            emergency=spec.emergency.describe(),
            classification=spec.classification.describe(),
            legalHold=spec.legal_hold.describe(),
            emergencyDepartments=spec.emergency_departments,
        )
    await write_status(memo.client, RESOURCES["CamfleetAuthorities"], body, status)


async def _authorities(memo: OperatorContext) -> CamfleetAuthorities | None:
    try:
        return await memo.authorities.wait_current()
    except TimeoutError as error:
        raise kopf.AdmissionError(
            "the operator has not loaded CamfleetAuthorities yet; try again in a few seconds", code=503
        ) from error


async def _fetched(memo: OperatorContext) -> CamfleetAuthorities | None:
    """The configuration as the API server has it now: read before refusing, so that a change applied a moment
    ago (e.g. in the same `kubectl apply` as the request) is not judged by the watch's older copy."""
    found = await get_or_none(memo.client, RESOURCES["CamfleetAuthorities"], AUTHORITIES_NAME)
    if found is None:
        return None
    try:
        return CamfleetAuthorities.model_validate(found.to_dict())
    except ValidationError:
        return memo.authorities.current


def _identity(userinfo: kopf.UserInfo) -> tuple[str, list[str]]:
    return str(userinfo.get("username", "")), [str(g) for g in userinfo.get("groups") or []]


def _refuse(action: str, obj: str, username: str, reason: str, **details: Any) -> kopf.AdmissionError:
    audit(action, obj, "refused", reason, actor=username, **details)
    return kopf.AdmissionError(reason, code=403)


@kopf.on.validate(GROUP, VERSION, "sharinggrants", id="emergency-request", operations=["CREATE"], persistent=True)
async def check_emergency_request(
    spec: kopf.Spec,
    meta: kopf.Meta,
    namespace: str | None,
    name: str | None,
    userinfo: kopf.UserInfo,
    dryrun: bool,
    memo: OperatorContext,
    **_: Any,
) -> None:
    """Emergency grants only from departments with emergency powers, and at most 72 hours per incident (R12)."""
    if not spec.get("emergency"):
        return
    username, _groups = _identity(userinfo)
    obj = f"SharingGrant {namespace}/{name}"
    try:
        grant = SharingGrantSpec.model_validate(dict(spec))
    except ValidationError:
        return  # the API server's schema refuses it with the rule's words
    assert grant.emergency is not None
    incident = grant.emergency.incident_reference
    refusal = emergency_request_refusal(str(namespace), await _authorities(memo))
    if refusal is not None:
        refusal = emergency_request_refusal(str(namespace), await _fetched(memo))
    if refusal is None:
        uid = str(meta.get("uid") or f"{namespace}/{name}")
        refusal = await _judge_and_record_incident(
            memo, incident, grant.period, uid, (str(namespace), str(name)), dryrun
        )
    if refusal is not None:
        raise _refuse("EmergencyRequestRefused", obj, username, refusal, incident=incident, period=grant.period)
    audit("EmergencyRequested", obj, "admitted", "waits for the emergency authority (R12)", actor=username,
          incident=incident, cameras=grant.cameras.to_api(), permissions=list(grant.permissions))  # fmt: skip


async def _judge_and_record_incident(
    memo: OperatorContext, incident: str, period: Period, uid: str, grant: tuple[str, str], dryrun: bool
) -> str | None:
    """The 72-hour budget judged against the live grants and the incident ledger, and the admitted period recorded
    there before the answer (`access.incident_ledger`): a deleted grant's hours stay spent. The write carries the
    ledger's resourceVersion, so two requests judged at once cannot both spend the same hours: the second is judged
    again. A ledger that cannot be written refuses the request (it would otherwise spend hours unrecorded)."""
    for _ in range(LEDGER_ATTEMPTS):
        ledger = await get_or_none(memo.client, ConfigMap, LEDGER_NAME, memo.config.operator_namespace)
        data = dict((ledger.data if ledger is not None else None) or {})
        periods = [*recorded_periods(data, incident), *await _incident_periods(memo, incident)]
        refusal = incident_budget_refusal(incident, period, periods)
        if refusal is not None or dryrun:
            return refusal
        if await get_or_none(memo.client, RESOURCES["SharingGrant"], grant[1], grant[0]) is not None:
            return None  # the name is taken: the API server refuses the create after admission, nothing is spent
        updated = with_grant(data, incident, uid, "/".join(grant), period, memo.clock.now())
        try:
            await _write_ledger(memo, ledger, updated)
        except ApiError as error:
            if error.status.code == 409:
                continue  # written meanwhile by another request: judge again against what it recorded
            return f"the incident ledger could not be written ({error.status.reason}); try again (emergency rule R12)"
        return None
    return "the incident ledger is changing too fast to judge this request; try again (emergency rule R12)"


async def _write_ledger(memo: OperatorContext, ledger: ConfigMap | None, data: dict[str, str]) -> None:
    namespace = memo.config.operator_namespace
    if ledger is None:
        metadata = ObjectMeta(
            name=LEDGER_NAME, namespace=namespace, labels={**MANAGED_BY, COMPONENT_LABEL: "incident-ledger"}
        )
        await memo.client.create(ConfigMap(metadata=metadata, data=data))
        return
    version = ledger.metadata.resourceVersion if ledger.metadata is not None else None
    body = {"metadata": {"resourceVersion": version}, "data": data}
    await memo.client.patch(ConfigMap, LEDGER_NAME, body, namespace=namespace, patch_type=PatchType.MERGE)


async def _incident_periods(memo: OperatorContext, incident: str) -> list[Period]:
    """Periods of every existing emergency grant of the incident, in every department (read from the API server:
    a standby replica must judge as the active one does)."""
    periods = []
    async for item in memo.client.list(RESOURCES["SharingGrant"], namespace=ALL_NS):
        spec: Mapping[str, Any] = item.to_dict().get("spec") or {}
        if (spec.get("emergency") or {}).get("incidentReference") != incident:
            continue
        try:
            periods.append(Period.model_validate(spec.get("period")))
        except ValidationError:
            continue
    return periods


def _classification(spec: Mapping[str, Any] | None) -> Classification | None:
    if spec is None:
        return None
    try:
        return Classification.of(CameraSpec.model_validate(dict(spec)))
    except ValidationError:
        return None


@kopf.on.validate(GROUP, VERSION, "cameras", id="classification", operations=["CREATE", "UPDATE"], persistent=True)
async def check_classification(
    body: kopf.Body,
    namespace: str | None,
    name: str | None,
    userinfo: kopf.UserInfo,
    memo: OperatorContext,
    **kwargs: Any,
) -> None:
    """Only the classification authority sets or changes securityLevel and shareClass (R10, R13)."""
    new = _classification(body.get("spec"))
    if new is None:
        return  # the API server's schema refuses it with the rule's words
    old: Mapping[str, Any] | None = kwargs.get("old")
    before = _classification(old.get("spec")) if old is not None else None
    if old is not None and before == new:
        return
    username, groups = _identity(userinfo)
    obj = f"Camera {namespace}/{name or body.get('metadata', {}).get('generateName', '')}"
    refusal = classification_refusal(before, new, username, groups, await _authorities(memo))
    if refusal is not None:
        refusal = classification_refusal(before, new, username, groups, await _fetched(memo))
    old_words = before.words() if before is not None else None
    if refusal is not None:
        raise _refuse("ClassificationRefused", obj, username, refusal, old=old_words, new=new.words())
    if before is not None or memo.classifications.non_default(new):
        audit("ClassificationAdmitted", obj, "admitted", new.legal_basis or "", actor=username, old=old_words,
              new=new.words())  # fmt: skip
        memo.classifications.admitted((str(namespace), str(name)), username)


@kopf.on.event(GROUP, VERSION, "cameras")
async def classification_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    """A stored change of classification: audit record and Event on the camera (R16)."""
    body = event["object"]
    key = (body["metadata"]["namespace"], body["metadata"]["name"])
    if event["type"] == "DELETED":
        memo.classifications.forget(key)
        return
    change = memo.classifications.observe(key, Classification.of_raw(body.get("spec") or {}))
    if change is None:
        return
    before, after, who = change
    obj = f"Camera {key[0]}/{key[1]}"
    message = f"reclassified by {who}: {before.words()} -> {after.words()}; legal basis: {after.legal_basis or 'none'}"
    audit("CameraReclassified", obj, "changed", after.legal_basis or "", actor=who, old=before.words(),
          new=after.words())  # fmt: skip
    await memo.events.record(dict(body), "Normal", "Reclassified", f"{message} (rule R10, R13)")
