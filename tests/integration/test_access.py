"""Issue 6 on the real control plane: two-person approvals by real authenticated users, credentials that end
on time, revocation after a restart, and `camfleet access explain`.

Users are real API identities through impersonation (the admin kubeconfig may impersonate): `alice` and `bob`
of the owner department, `carol` of the grantee department; RBAC lets the owner department's group
create GrantApprovals in the owner namespace.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from tests.helpers import (
    DEPARTMENT_GROUP,
    as_user,
    audit_records,
    audited,
    authorize_emergency,
    condition,
    configure_authorities,
    get_json,
    wait_for,
)
from tests.integration.manifests import GRANT_APPLICATION, unreachable_camera

APPLICATION = GRANT_APPLICATION


@pytest.fixture
def departments(cluster: LocalCluster) -> Iterator[tuple[str, str]]:
    """An owner department with one camera per share class, a grantee department, and the approver role."""
    suffix = uuid.uuid4().hex[:6]
    owner, grantee = f"owner-{suffix}", f"grantee-{suffix}"
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": owner}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": grantee}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "grant-approver", "namespace": owner},
            "rules": [{"apiGroups": ["camfleet.io"], "resources": ["grantapprovals"], "verbs": ["create", "get"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "grant-approvers", "namespace": owner},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "grant-approver"},
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": f"{DEPARTMENT_GROUP}{owner}"},
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": f"{DEPARTMENT_GROUP}{grantee}"},
            ],
        },
    ]
    objects += [
        unreachable_camera(owner, name, share_class)
        for name, share_class in [("plaza", "Conditional"), ("gate", "NotShared")]
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    configure_authorities(cluster, grantee)
    yield owner, grantee
    cluster.kubectl("delete", "namespace", owner, grantee, "--wait=false", check=False)


def approval(owner: str, grantee: str, grant: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "GrantApproval",
        "metadata": {"name": name, "namespace": owner},
        "spec": {"target": {"kind": "SharingGrant", "namespace": grantee, "name": grant}, "verdict": "Approve"},
    }


def grant(grantee: str, owner: str, name: str, start: datetime, end: datetime, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "SharingGrant",
        "metadata": {"name": name, "namespace": grantee},
        "spec": {
            "cameras": {"namespace": owner, "names": spec.pop("names", ["plaza"])},
            "permissions": ["LiveView"],
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "purpose": "Plan pedestrian crossings",
            **spec,
        },
    }


def grant_status(cluster: LocalCluster, grantee: str, name: str) -> dict[str, Any]:
    return dict(get_json(cluster, "sharinggrant", name, "-n", grantee).get("status") or {})


def access_token(cluster: LocalCluster, grantee: str, name: str) -> str | None:
    done = cluster.kubectl(
        "get", "secret", f"{name}-access", "-n", grantee, "-o", "jsonpath={.data.token}", check=False
    )
    if done.returncode != 0 or not done.stdout:
        return None
    import base64

    return base64.b64decode(done.stdout).decode()


def insecure_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the private CA lives only inside the operator process
    return context


def ask(
    operator: OperatorProcess, route: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """POST to the real decision endpoint (TLS); the status and the body's bytes. `headers`: the caller's
    credential (default: the operator process's gateway, as MediaMTX sends it)."""
    request = urllib.request.Request(f"{operator.decision_url}{route}", data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    for name, value in (operator.decision_headers() if headers is None else headers).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=5, context=insecure_tls()) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def gateway_allows(operator: OperatorProcess, token: str, path: str) -> bool:
    """Ask the real decision endpoint as MediaMTX would, with its gateway credential."""
    body = {"user": "", "password": token, "token": "", "ip": "127.0.0.1", "action": "read", "path": path,
            "protocol": "rtsp", "id": str(uuid.uuid4()), "query": ""}  # fmt: skip
    return ask(operator, "/v1/mediamtx/auth", body)[0] == 200


def gateway_reasons(operator: OperatorProcess, camera: str) -> list[str]:
    """Why the door answered as it did about `camera`: the audit trail, since the door tells no reasons."""
    return [
        f"{r['code']}: {r['reason']}" for r in audit_records(operator, "GatewayAccess") if r["object"].endswith(camera)
    ]


def test_conditional_grant_needs_two_different_people_of_the_owner(
    cluster: LocalCluster, operator: OperatorProcess, departments: tuple[str, str]
) -> None:
    owner, grantee = departments
    now = datetime.now(UTC)
    cluster.kubectl(
        "apply", "-f", "-",
        input=yaml.safe_dump(grant(grantee, owner, "crossings", now - timedelta(minutes=1), now + timedelta(days=7),
                                   shareClass="Conditional", application=APPLICATION)),
    )  # fmt: skip
    pending = wait_for(lambda: grant_status(cluster, grantee, "crossings").get("approvalDueTime"), what="due date")
    assert pending
    approved = condition({"status": grant_status(cluster, grantee, "crossings")}, "Approved")
    assert approved is not None
    assert approved["status"] == "Unknown"
    assert access_token(cluster, grantee, "crossings") is None

    first = as_user(cluster, "alice", owner, approval(owner, grantee, "crossings", "alice-yes"))
    assert first.returncode == 0, first.stderr
    wait_for(lambda: "alice" in grant_status(cluster, grantee, "crossings").get("approvedBy", []), what="alice counted")
    assert condition({"status": grant_status(cluster, grantee, "crossings")}, "Active")["status"] == "False"  # type: ignore[index]

    twice = as_user(cluster, "alice", owner, approval(owner, grantee, "crossings", "alice-again"))
    assert twice.returncode != 0
    assert "two different people (rule R15)" in twice.stderr

    own = as_user(cluster, "carol", grantee, approval(owner, grantee, "crossings", "carol-yes"))
    assert own.returncode != 0
    assert "cannot approve its own grant (rule R15)" in own.stderr

    second = as_user(cluster, "bob", owner, approval(owner, grantee, "crossings", "bob-yes"))
    assert second.returncode == 0, second.stderr
    active = wait_for(
        lambda: (
            (s := grant_status(cluster, grantee, "crossings"))
            and (condition({"status": s}, "Active") or {}).get("status") == "True"
            and s
        ),
        what="the grant active after the second approval",
    )
    assert sorted(active["approvedBy"]) == ["alice", "bob"]
    assert active["effectiveCameras"] == [{"namespace": owner, "name": "plaza", "permissions": ["LiveView"]}]
    recorded = get_json(cluster, "grantapproval", "bob-yes", "-n", owner)["status"]["approver"]
    assert recorded["username"] == "bob"

    token = wait_for(lambda: access_token(cluster, grantee, "crossings"), what="the access Secret")
    assert gateway_allows(operator, token, f"{owner}/plaza"), gateway_reasons(operator, f"{owner}/plaza")
    assert not gateway_allows(operator, token, f"{owner}/gate"), "a grant covers only its own cameras"

    # Withdrawing an approval takes access away before the grant's end: that is a revocation, said in status.
    cluster.kubectl("delete", "grantapproval", "bob-yes", "-n", owner, "--wait=false")
    revoked = wait_for(
        lambda: (
            (s := grant_status(cluster, grantee, "crossings"))
            and (condition({"status": s}, "Revoked") or {}).get("status") == "True"
            and s
        ),
        what="the grant revoked once an approval was withdrawn",
    )
    assert condition({"status": revoked}, "Revoked")["reason"] == "ApprovalsWithdrawn"  # type: ignore[index]
    assert condition({"status": revoked}, "Active")["status"] == "False"  # type: ignore[index]
    assert revoked["history"][-1]["decision"] == "Revoked"
    wait_for(lambda: access_token(cluster, grantee, "crossings") is None, what="the access Secret deleted")
    assert not gateway_allows(operator, token, f"{owner}/plaza")


def test_the_approver_is_the_requesting_user_not_a_typed_field(
    cluster: LocalCluster, operator: OperatorProcess, departments: tuple[str, str]
) -> None:
    owner, grantee = departments
    now = datetime.now(UTC)
    cluster.kubectl(
        "apply", "-f", "-",
        input=yaml.safe_dump(grant(grantee, owner, "forged", now, now + timedelta(days=1),
                                   shareClass="Conditional", application=APPLICATION)),
    )  # fmt: skip
    forged = approval(owner, grantee, "forged", "typed-identity")
    forged["metadata"]["annotations"] = {"camfleet.io/approver": json.dumps({"username": "mayor", "groups": []})}
    assert as_user(cluster, "alice", owner, forged).returncode == 0
    recorded = wait_for(
        lambda: get_json(cluster, "grantapproval", "typed-identity", "-n", owner).get("status", {}).get("approver"),
        what="the recorded approver",
    )
    assert recorded["username"] == "alice"
    change = cluster.kubectl(
        "annotate", "grantapproval", "typed-identity", "-n", owner, "--overwrite",
        'camfleet.io/approver={"username": "mayor", "groups": []}', check=False,
    )  # fmt: skip
    assert change.returncode != 0
    assert "cannot be changed" in change.stderr


def test_emergency_grant_ends_on_time_with_no_human_action(
    cluster: LocalCluster, operator: OperatorProcess, departments: tuple[str, str]
) -> None:
    owner, grantee = departments
    now = datetime.now(UTC)
    expiry = now + timedelta(seconds=8)
    emergency = grant(
        grantee, owner, "flood", now - timedelta(seconds=1), expiry, names=["gate"], shareClass="NotShared",
        emergency={"incidentReference": "EMC-7", "description": "levee breach"},
    )  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(emergency))
    assert authorize_emergency(cluster, owner, grantee, "flood").returncode == 0
    token = wait_for(lambda: access_token(cluster, grantee, "flood"), what="emergency credentials once authorized")
    assert gateway_allows(operator, token, f"{owner}/gate"), "an emergency grant opens even a NotShared camera"

    # Watch the door and the Secret until both are closed; note when.
    deadline = expiry + timedelta(seconds=10)
    closed_at: datetime | None = None
    while datetime.now(UTC) < deadline:
        if not gateway_allows(operator, token, f"{owner}/gate") and access_token(cluster, grantee, "flood") is None:
            closed_at = datetime.now(UTC)
            break
        time.sleep(0.1)
    assert closed_at is not None, "access did not end"
    delay = (closed_at - expiry).total_seconds()
    print(f"\nrevocation observed {delay:.2f}s after expiry")
    assert delay <= 2.0, f"revoked {delay:.2f}s after expiry (R12 asks for the moment it expires)"
    # The status follows the revocation (in a burst, every Secret goes before any status is written).
    wait_for(
        lambda: (
            (c := condition({"status": grant_status(cluster, grantee, "flood")}, "Expired")) and c["status"] == "True"
        ),
        timeout=10,
        what="the grant's Expired condition True",
    )


def test_a_grant_that_expired_while_the_operator_was_down_is_revoked_at_start(
    cluster: LocalCluster, operator: OperatorProcess, departments: tuple[str, str]
) -> None:
    owner, grantee = departments
    now = datetime.now(UTC)
    emergency = grant(
        grantee, owner, "night-shift", now - timedelta(seconds=1), now + timedelta(seconds=6), names=["gate"],
        shareClass="NotShared", emergency={"incidentReference": "EMC-8", "description": "fire"},
    )  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(emergency))
    assert authorize_emergency(cluster, owner, grantee, "night-shift").returncode == 0
    wait_for(lambda: access_token(cluster, grantee, "night-shift"), what="credentials")
    operator.stop()
    time.sleep(8)  # the grant expires while nobody watches
    assert access_token(cluster, grantee, "night-shift") is not None
    operator.start()
    wait_for(lambda: access_token(cluster, grantee, "night-shift") is None, timeout=20, what="revocation at start")


def test_access_explain_answers_per_level(
    cluster: LocalCluster, operator: OperatorProcess, departments: tuple[str, str]
) -> None:
    owner, _ = departments
    suffix = owner.removeprefix("owner-")
    tiers = [
        {
            "apiVersion": "camfleet.io/v1alpha1",
            "kind": "AccessTier",
            "metadata": {"name": f"level-{level}-{suffix}"},
            "spec": {
                "level": level,
                "subjects": [{"department": f"dept{level}-{suffix}"}],
                **({"authorizedCameras": [{"namespace": owner, "names": ["plaza"]}]} if level >= 3 else {}),
            },
        }
        for level in (1, 2, 3, 4)
    ]
    applied = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(tiers), check=False)
    if applied.returncode != 0:  # authorizedCameras is optional in the API; retry without it
        for tier in tiers:
            tier["spec"].pop("authorizedCameras", None)
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(tiers))
    try:
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}

        def explain(department: str, camera: str) -> tuple[int, str]:
            done = subprocess.run(
                [sys.executable, "-m", "camfleet.cli", "access", "explain", "--department", department,
                 "--camera", f"{owner}/{camera}"],
                env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            return done.returncode, done.stdout

        answers = {level: explain(f"dept{level}-{suffix}", "plaza") for level in (1, 2, 3, 4)}
        for level, (_, text) in answers.items():
            assert f"holds: level {level}" in text, text
            assert "reasons:" in text
        assert "PTZControl:  yes" in answers[1][1]
        assert "PTZLock:     yes" in answers[1][1]
        assert "PTZControl:  yes" in answers[2][1]
        assert "PTZLock:     no" in answers[2][1]
        assert "Export:      no" in answers[3][1]
        assert "PTZControl:  no" in answers[4][1]
        owner_view = explain(owner, "plaza")
        assert owner_view[0] == 0
        assert "LiveView:    yes" in owner_view[1]
        notshared = explain(f"dept1-{suffix}", "gate")
        assert notshared[0] == 3, "a NotShared camera is invisible to every level without an emergency grant"
        assert "LiveView:    no" in notshared[1]
    finally:
        cluster.kubectl("delete", "accesstier", *[t["metadata"]["name"] for t in tiers], "--ignore-not-found")


def anonymous_kubeconfig(cluster: LocalCluster, folder: Path) -> Path:
    """The cluster's kubeconfig without any user credential."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    for user in config.get("users", []):
        user["user"] = {}
    path = folder / "anonymous.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_only_authenticated_gateways_ask_and_the_door_tells_nothing_but_the_answer(
    cluster: LocalCluster, operator: OperatorProcess, departments: tuple[str, str], tmp_path: Path
) -> None:
    owner, grantee = departments
    wall_name = f"wall-{grantee}"
    # A platform administrator issues the grantee's video wall a credential that speaks for the grantee only.
    wall = {"Authorization": f"Bearer {operator.issue_gateway_credential(wall_name, (grantee,))}"}
    ask_owner = {"camera": f"{owner}/plaza", "permission": "LiveView", "department": owner}
    as_grantee = {"permission": "LiveView", "department": grantee}
    wait_for(
        lambda: ask(operator, "/v1/decide", {**as_grantee, "camera": f"{owner}/plaza"}, wall)[0] != 401,
        timeout=20,
        what="the new gateway credential served without a restart",
    )
    hook = {"user": "", "password": "x", "token": "", "ip": "127.0.0.1", "action": "read", "path": f"{owner}/plaza",
            "protocol": "rtsp", "id": None, "query": ""}  # fmt: skip
    unauthenticated = (401, b'{"allowed": false}')

    # Nobody without a gateway credential is served, and a wrong credential is no better.
    assert ask(operator, "/v1/decide", ask_owner, headers={}) == unauthenticated
    assert ask(operator, "/v1/mediamtx/auth", hook, headers={}) == unauthenticated
    assert ask(operator, "/v1/decide", ask_owner, {"Authorization": "Bearer " + "x" * 43}) == unauthenticated
    assert ask(operator, "/v1/mediamtx/auth", hook, {"Authorization": wall["Authorization"] + "x"}) == unauthenticated
    # A gateway may not speak for a department its credential does not name (nor the token-only one for any).
    assert ask(operator, "/v1/decide", ask_owner, wall) == (403, b'{"allowed": false}')
    assert ask(operator, "/v1/decide", ask_owner) == (403, b'{"allowed": false}')
    # A refused camera (NotShared) and one that does not exist answer byte for byte the same.
    refused = ask(operator, "/v1/decide", {**as_grantee, "camera": f"{owner}/gate"}, wall)
    unknown = ask(operator, "/v1/decide", {**as_grantee, "camera": f"{owner}/no-such-camera"}, wall)
    assert refused == unknown == (403, b'{"allowed": false, "outcome": "denied"}')

    metrics = operator.get("/metrics")
    for reason in ("missing", "invalid", "department"):
        assert f'camfleet_gateway_callers_refused_total{{endpoint="decide",reason="{reason}"}}' in metrics, reason
    # The reasons are in the audit trail: who asked, for whom, and why it was refused.
    refused_callers = {f"gateway {wall_name}", f"gateway {operator.gateway}"}

    def callers() -> set[str]:  # each refusal's record follows its answer by moments (the audit writer batches)
        return {r["actor"] for r in audit_records(operator, "GatewayCaller") if r.get("department") == owner}

    wait_for(lambda: callers() >= refused_callers, what="both refused department modes audited")
    assert audited(operator, "GatewayCaller", where=lambda r: r["actor"].startswith("unauthenticated caller 127.0.0.1"))
    wanted = {f"Camera {owner}/gate", f"Camera {owner}/no-such-camera"}

    def wall_decisions() -> dict[str, dict[str, Any]] | None:
        mine = {r["object"]: r for r in audit_records(operator, "GatewayAccess") if r.get("caller") == wall_name}
        return mine if mine.keys() >= wanted else None

    decided = wait_for(wall_decisions, what="the wall's decisions audited")
    assert decided[f"Camera {owner}/gate"]["code"] == "not_granted"
    assert decided[f"Camera {owner}/gate"]["reason"]
    assert decided[f"Camera {owner}/no-such-camera"]["code"] == "unknown_camera"
    assert decided[f"Camera {owner}/gate"]["actor"] == grantee

    # `camfleet access explain` explains, with the user's own credentials; without any, the API server refuses.
    def explain(kubeconfig: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "camfleet.cli", "access", "explain", "--department", grantee,
             "--camera", f"{owner}/gate"],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    explained = explain(cluster.kubeconfig)
    assert explained.returncode == 3, explained.stderr
    assert "LiveView:    no" in explained.stdout
    assert "reasons:" in explained.stdout
    # ... the same reasons the audit trail recorded for the door's bare "denied".
    reasons = [line.strip() for line in explained.stdout.partition("reasons:")[2].splitlines() if line.strip()]
    assert reasons
    assert all(reason in decided[f"Camera {owner}/gate"]["reason"] for reason in reasons), (reasons, decided)
    anonymous = explain(anonymous_kubeconfig(cluster, tmp_path))
    assert anonymous.returncode != 0
    assert "LiveView" not in anonymous.stdout
