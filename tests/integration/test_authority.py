"""Issue 14, items 2 and 4, on the real control plane as the people who would try: emergency access by
self-declaration, renewal by moving the period, more than 72 hours per incident, and classifying cameras
without the classification authority. Each attempt is refused or gains nothing; where it reached the operator,
its audit record names who tried what.

Users are impersonated: `carol` of the grantee department (which may create its own grants), `alice` of the
owner department (approver and camera editor), the emergency authority's `emergency-officer` and the
classification authority's `classifier` (tests/helpers.py configures CamfleetAuthorities).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from tests.helpers import (
    CLASSIFICATION_GROUP,
    CLASSIFIER,
    DEPARTMENT_GROUP,
    audited,
    authorize_emergency,
    condition,
    configure_authorities,
    create_as,
    events_for,
    get_json,
    wait_for,
)
from tests.integration.manifests import unreachable_camera
from tests.integration.test_access import access_token, approval, gateway_allows, grant, grant_status


def _role(namespace: str, name: str, rules: list[dict[str, Any]], group: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": name, "namespace": namespace}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": name, "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]},
    ]  # fmt: skip


@pytest.fixture
def city(cluster: LocalCluster, operator: OperatorProcess) -> Iterator[tuple[str, str, str]]:
    """An owner department with cameras, a grantee allowed emergency access, and one that is not."""
    suffix = uuid.uuid4().hex[:6]
    owner, responder, other = f"owner-{suffix}", f"responder-{suffix}", f"other-{suffix}"
    # A department manages the grants it asks for: it may withdraw one (delete), as the chart's department-admin may.
    grant_verbs = ["create", "get", "patch", "delete"]
    grants = [{"apiGroups": ["camfleet.io"], "resources": ["sharinggrants"], "verbs": grant_verbs}]
    owner_rules = [
        {"apiGroups": ["camfleet.io"], "resources": ["grantapprovals"], "verbs": ["create", "get"]},
        {"apiGroups": ["camfleet.io"], "resources": ["cameras"], "verbs": ["create", "get", "patch"]},
    ]
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in (owner, responder, other)
    ]
    objects += _role(owner, "owner-staff", owner_rules, f"{DEPARTMENT_GROUP}{owner}")
    objects += _role(responder, "grant-requester", grants, f"{DEPARTMENT_GROUP}{responder}")
    objects += _role(other, "grant-requester", grants, f"{DEPARTMENT_GROUP}{other}")
    objects += [unreachable_camera(owner, "gate", "NotShared"), unreachable_camera(owner, "square", "Unconditional")]
    configure_authorities(cluster, responder)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    wait_for(
        lambda: (
            responder
            in get_json(cluster, "camfleetauthorities", "camfleet").get("spec", {}).get("emergencyDepartments", [])
        ),
        what="the authorities naming the responder",
    )
    yield owner, responder, other
    cluster.kubectl("delete", "namespace", owner, responder, other, "--wait=false", check=False)


def emergency(grantee: str, owner: str, name: str, start: datetime, hours: float, incident: str) -> dict[str, Any]:
    return grant(
        grantee, owner, name, start, start + timedelta(hours=hours), names=["gate"], shareClass="NotShared",
        permissions=["LiveView", "Playback", "PTZControl", "Export"],
        emergency={"incidentReference": incident, "description": "levee breach"},
    )  # fmt: skip


def as_member(cluster: LocalCluster, user: str, department: str, manifest: dict[str, Any], *verb: str) -> Any:
    return create_as(cluster, user, [f"{DEPARTMENT_GROUP}{department}"], manifest, *verb)


def test_emergency_from_a_department_without_emergency_powers_is_refused(
    cluster: LocalCluster, operator: OperatorProcess, city: tuple[str, str, str]
) -> None:
    owner, _, other = city
    now = datetime.now(UTC)
    done = as_member(cluster, "mallory", other, emergency(other, owner, "self-declared", now, 72, f"X-{other}"))
    assert done.returncode != 0
    assert "may request emergency access" in done.stderr
    assert "(emergency rule R12)" in done.stderr
    assert get_json(cluster, "sharinggrant", "self-declared", "-n", other) == {}
    mine = audited(operator, "EmergencyRequestRefused", f"SharingGrant {other}/self-declared")
    assert mine[-1]["actor"] == "mallory"
    assert mine[-1]["outcome"] == "refused"


def test_an_emergency_waits_for_the_emergency_authority_and_the_owner_cannot_authorize_it(
    cluster: LocalCluster, operator: OperatorProcess, city: tuple[str, str, str]
) -> None:
    owner, responder, _ = city
    now = datetime.now(UTC)
    name, incident = "levee", f"EMC-{responder}"
    created = as_member(cluster, "carol", responder, emergency(responder, owner, name, now, 24, incident))
    assert created.returncode == 0, created.stderr
    waiting = wait_for(
        lambda: (
            (c := condition({"status": grant_status(cluster, responder, name)}, "Active"))
            and c["reason"] == "AwaitingAuthorization"
            and c
        ),
        what="the grant waiting for authorization",
    )
    assert waiting["status"] == "False"
    requested = audited(operator, "EmergencyRequested", where=lambda r: name in r["object"])
    assert requested[-1]["actor"] == "carol"

    # The owner department's staff approving gains nothing: only the emergency authority decides.
    assert as_member(cluster, "alice", owner, approval(owner, responder, name, "alice-yes")).returncode == 0
    wait_for(
        lambda: get_json(cluster, "grantapproval", "alice-yes", "-n", owner).get("status", {}).get("approver"),
        what="alice's approval recorded",
    )
    time.sleep(2)  # a few passes of the grant controller
    still = grant_status(cluster, responder, name)
    assert still.get("approvedBy", []) == []
    assert (condition({"status": still}, "Active") or {}).get("reason") == "AwaitingAuthorization"
    assert access_token(cluster, responder, name) is None

    started = datetime.now(UTC)
    authorized = authorize_emergency(cluster, owner, responder, name)
    assert authorized.returncode == 0, authorized.stderr
    token = wait_for(lambda: access_token(cluster, responder, name), what="a token after the authorization")
    print(f"\nauthorization to token: {(datetime.now(UTC) - started).total_seconds():.2f}s (polled)")
    assert gateway_allows(operator, token, f"{owner}/gate")
    status = grant_status(cluster, responder, name)
    assert status["approvedBy"] == ["emergency-officer"]
    assert status["history"][-1]["actor"] == "emergency-officer"


def test_moving_an_emergency_period_is_refused(
    cluster: LocalCluster, operator: OperatorProcess, city: tuple[str, str, str]
) -> None:
    owner, responder, _ = city
    now = datetime.now(UTC)
    manifest = emergency(responder, owner, "renewed", now, 70, f"EMC-R-{responder}")
    assert as_member(cluster, "carol", responder, manifest).returncode == 0
    moved = emergency(responder, owner, "renewed", now + timedelta(hours=60), 70, f"EMC-R-{responder}")
    done = as_member(cluster, "carol", responder, moved, "apply")
    assert done.returncode != 0
    assert "a renewal or a change is a new grant with a new authorization (emergency rule R12)" in done.stderr
    stored = get_json(cluster, "sharinggrant", "renewed", "-n", responder)["spec"]["period"]
    assert datetime.fromisoformat(stored["end"]) <= now + timedelta(hours=70, seconds=1)


def test_an_incident_gets_at_most_72_hours_across_its_grants(
    cluster: LocalCluster, operator: OperatorProcess, city: tuple[str, str, str]
) -> None:
    owner, responder, _ = city
    now = datetime.now(UTC)
    incident = f"EMC-72-{responder}"
    assert (
        as_member(cluster, "carol", responder, emergency(responder, owner, "first", now, 48, incident)).returncode == 0
    )
    second = emergency(responder, owner, "second", now + timedelta(hours=47), 48, incident)
    done = as_member(cluster, "carol", responder, second)
    assert done.returncode != 0
    assert f"incident {incident} would reach 95.0 hours" in done.stderr
    assert "(emergency rule R12)" in done.stderr
    mine = audited(operator, "EmergencyRequestRefused", f"SharingGrant {responder}/second")
    assert mine[-1]["actor"] == "carol"
    assert mine[-1]["incident"] == incident
    # Within the budget (overlapping time is spent once) it is admitted.
    third = emergency(responder, owner, "third", now + timedelta(hours=1), 47, incident)
    assert as_member(cluster, "carol", responder, third).returncode == 0


def test_a_withdrawn_emergency_grant_gives_its_hours_back_to_nobody(
    cluster: LocalCluster, operator: OperatorProcess, city: tuple[str, str, str]
) -> None:
    """The department spends 48 hours, deletes the grant and asks again, under a new name and under the same one:
    the incident ledger still holds the hours, in the operator's namespace where the department cannot reach."""
    owner, responder, _ = city
    now = datetime.now(UTC)
    incident = f"EMC-DEL-{responder}"
    spent = emergency(responder, owner, "spent", now, 48, incident)
    assert as_member(cluster, "carol", responder, spent).returncode == 0
    withdrawn = as_member(cluster, "carol", responder, spent, "delete")
    assert withdrawn.returncode == 0, withdrawn.stderr
    wait_for(lambda: get_json(cluster, "sharinggrant", "spent", "-n", responder) == {}, what="the grant deleted")
    for name in ("again", "spent"):
        done = as_member(cluster, "carol", responder, emergency(responder, owner, name, now + timedelta(hours=47), 48,
                                                                incident))  # fmt: skip
        assert done.returncode != 0, f"{name}: the deleted grant's hours were given back"
        assert f"incident {incident} would reach 95.0 hours" in done.stderr
    ledger = get_json(cluster, "configmap", "camfleet-incident-ledger", "-n", operator.operator_namespace)
    assert ledger["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "camfleet"
    assert any(f'"incident": "{incident}"' in value for value in ledger["data"].values())
    for verb in ("patch", "delete"):
        can = cluster.kubectl("auth", "can-i", verb, "configmap/camfleet-incident-ledger", "-n",
                              operator.operator_namespace, "--as=carol", f"--as-group={DEPARTMENT_GROUP}{responder}",
                              check=False)  # fmt: skip
        assert can.stdout.strip() == "no", f"the department may {verb} the ledger"
    # Hours the incident has not spent are still there to be given.
    assert (
        as_member(cluster, "carol", responder, emergency(responder, owner, "rest", now, 24, incident)).returncode == 0
    )


def test_only_the_classification_authority_classifies(
    cluster: LocalCluster, operator: OperatorProcess, city: tuple[str, str, str]
) -> None:
    owner, _, _ = city
    # Creating with the default classification is anyone's; a NotShared camera is not.
    assert as_member(cluster, "alice", owner, unreachable_camera(owner, "plain", None)).returncode == 0
    secret = unreachable_camera(owner, "secret", "NotShared")
    done = as_member(cluster, "alice", owner, secret)
    assert done.returncode != 0
    assert "only the classification authority" in done.stderr
    assert "(classification rule R10, R13)" in done.stderr

    change = cluster.kubectl(
        "patch", "camera", "square", "-n", owner, "--type=merge", "--as=alice",
        f"--as-group={DEPARTMENT_GROUP}{owner}", "--as-group=system:authenticated",
        "-p", '{"spec": {"securityLevel": "Restricted"}}', check=False,
    )  # fmt: skip
    assert change.returncode != 0
    assert (
        "may not change securityLevel Standard, shareClass Unconditional to securityLevel Restricted" in change.stderr
    )
    mine = audited(operator, "ClassificationRefused", f"Camera {owner}/square")
    assert mine[-1]["actor"] == "alice"
    assert mine[-1]["old"] == "securityLevel Standard, shareClass Unconditional"
    assert mine[-1]["new"] == "securityLevel Restricted, shareClass Unconditional"
    assert get_json(cluster, "camera", "square", "-n", owner)["spec"].get("securityLevel", "Standard") == "Standard"


def test_a_reclassification_by_the_authority_is_audited_and_tells_the_grants_it_narrows(
    cluster: LocalCluster, operator: OperatorProcess, city: tuple[str, str, str]
) -> None:
    owner, responder, _ = city
    now = datetime.now(UTC)
    live = grant(responder, owner, "square-view", now - timedelta(minutes=1), now + timedelta(days=1),
                 names=["square"], shareClass="Unconditional")  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(live))
    token = wait_for(lambda: access_token(cluster, responder, "square-view"), what="the live-view token")
    assert gateway_allows(operator, token, f"{owner}/square")

    patch = '{"spec": {"shareClass": "Conditional", "legalBasis": "City decision CLS-2030-09: crowd images"}}'
    done = cluster.kubectl(
        "patch", "camera", "square", "-n", owner, "--type=merge", f"--as={CLASSIFIER}",
        f"--as-group={CLASSIFICATION_GROUP}", "--as-group=system:authenticated", "-p", patch, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # The record of this change (the camera's creation by the test's admin was admitted and audited too, and the
    # audit writer batches records: the one of this patch follows the answer by moments).
    admitted = audited(operator, "ClassificationAdmitted", f"Camera {owner}/square",
                       where=lambda r: r["new"] == "securityLevel Standard, shareClass Conditional")  # fmt: skip
    assert admitted[-1]["actor"] == CLASSIFIER
    assert admitted[-1]["old"] == "securityLevel Standard, shareClass Unconditional"
    assert admitted[-1]["new"] == "securityLevel Standard, shareClass Conditional"
    wait_for(
        lambda: any(
            e["reason"] == "Reclassified" and CLASSIFIER in e["message"] for e in events_for(cluster, owner, "square")
        ),
        what="the camera's Reclassified Event",
    )  # fmt: skip
    narrowed = wait_for(
        lambda: (
            (c := condition({"status": grant_status(cluster, responder, "square-view")}, "Reclassified"))
            and c["status"] == "True"
            and c
        ),
        what="the grant's Reclassified condition",
    )
    assert narrowed["reason"] == "CameraReclassified"
    assert "square" in narrowed["message"]
    assert grant_status(cluster, responder, "square-view")["reclassifiedCameras"] == ["square"]
    wait_for(
        lambda: any(e["reason"] == "CameraReclassified" for e in events_for(cluster, responder, "square-view")),
        what="the grant's CameraReclassified Event",
    )
    wait_for(lambda: not gateway_allows(operator, token, f"{owner}/square"), what="the door closed on the camera")
