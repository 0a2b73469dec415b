"""Issue 18 (finding 2, deliverables 2 and 5) on the real control plane: approvals are acts of people made with
`kubectl camfleet approve|deny`, a person's newer decision supersedes their older one, a GitOps controller's
approval is refused, and an approval is not deleted while its grant lives.

The people are real API users with client certificates signed by the cluster's CA (CN: user name, O: groups),
each with a kubeconfig of their own; the plugin runs as kubectl runs it (`kubectl camfleet ...`, found on PATH),
so the API server authenticates each person and camfleet's webhook stamps them. The GitOps controller is a
service account identity (impersonated by the admin, as Argo CD's application controller would send it).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from camfleet.access.identity import REQUESTER_ANNOTATION, decode_identity
from camfleet.devcluster.build import ensure_built
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.person_certificates import person_certificate as issue_person_certificate
from tests.helpers import DEPARTMENT_GROUP, audit_records, audited, condition, get_json, wait_for
from tests.integration.manifests import GRANT_APPLICATION, unreachable_camera
from tests.integration.test_access import grant, grant_status

GITOPS = "argocd-application-controller"
REMOVED = "ApprovalRemoved"


def person_certificate(cluster: LocalCluster, user: str, groups: list[str]) -> tuple[bytes, bytes]:
    """A client certificate (PEM) for `user` in `groups` signed by the cluster's own CA, and its key (PEM)."""
    return issue_person_certificate(cluster.cluster_dir / "pki", user, groups)


def person_kubeconfig(cluster: LocalCluster, folder: Path, user: str, groups: list[str]) -> Path:
    """A kubeconfig for `user` in `groups`: a client certificate signed by the cluster's own CA."""
    pki = cluster.cluster_dir / "pki"
    cert, pem = person_certificate(cluster, user, groups)
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]["server"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "city", "cluster": {"server": server, "certificate-authority": str(pki / "ca.crt")}}],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": base64.b64encode(cert).decode(),
                    "client-key-data": base64.b64encode(pem).decode(),
                },
            }
        ],
        "contexts": [{"name": user, "context": {"cluster": "city", "user": user}}],
        "current-context": user,
    }
    path = folder / f"{user}.kubeconfig"
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config))
    return path


def as_person(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl ARGS` with the person's kubeconfig; `kubectl camfleet` finds the plugin on PATH, as installed."""
    env = dict(os.environ)
    env["KUBECONFIG"] = str(kubeconfig)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(ensure_built().kubectl), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def city(cluster: LocalCluster, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An owner department whose staff alice and bob approve (and may read grants of their cameras, and delete
    approvals as far as RBAC goes: camfleet's rule is what keeps the records), and a grantee department."""
    suffix = uuid.uuid4().hex[:6]
    owner, grantee, gitops = f"owner-{suffix}", f"grantee-{suffix}", f"argocd-{suffix}"
    staff = f"{DEPARTMENT_GROUP}{owner}"

    def role(
        namespace: str, resources: list[str], verbs: list[str], subjects: list[dict[str, str]], name: str = "approvers"
    ) -> list[Any]:
        return [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": name, "namespace": namespace},
                "rules": [{"apiGroups": ["camfleet.io"], "resources": resources, "verbs": verbs}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": subjects,
            },
        ]

    group = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": staff}
    robot = {"kind": "ServiceAccount", "name": GITOPS, "namespace": gitops}
    objects: list[dict[str, Any]] = [
        *({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in (owner, grantee, gitops)),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": GITOPS, "namespace": gitops}},
        *role(owner, ["grantapprovals"], ["create", "get", "list", "patch", "delete"], [group, robot]),
        *role(grantee, ["sharinggrants"], ["get"], [group]),
        *role(owner, ["cameras", "footageexports"], ["create", "get", "patch", "delete"], [group], "staff"),
        unreachable_camera(owner, "plaza", "Conditional"),
        unreachable_camera(owner, "old-gate", "Conditional"),
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    people = {user: person_kubeconfig(cluster, tmp_path, user, [staff]) for user in ("alice", "bob")}
    yield {"owner": owner, "grantee": grantee, "gitops": gitops, **people}
    cluster.kubectl("delete", "namespace", owner, grantee, gitops, "--wait=false", check=False)


def approved(cluster: LocalCluster, grantee: str, name: str) -> dict[str, Any]:
    return condition({"status": grant_status(cluster, grantee, name)}, "Approved") or {}


def test_people_approve_with_the_plugin_replace_their_decision_and_the_records_stay(
    cluster: LocalCluster, operator: OperatorProcess, city: dict[str, Any]
) -> None:
    owner, grantee = city["owner"], city["grantee"]
    now = dt.datetime.now(dt.UTC)
    request = grant(grantee, owner, "crossings", now - dt.timedelta(minutes=1), now + dt.timedelta(days=7),
                    shareClass="Conditional", application=GRANT_APPLICATION)  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(request))
    wait_for(lambda: grant_status(cluster, grantee, "crossings").get("approvalDueTime"), what="the grant pending")

    # Two different people approve with `kubectl camfleet approve`: the grant becomes active.
    alice = as_person(city["alice"], "camfleet", "approve", "grant/crossings", "-n", grantee)
    assert alice.returncode == 0, alice.stderr
    assert f"created in {owner}: Approve of SharingGrant {grantee}/crossings by alice" in alice.stdout
    started = time.monotonic()
    bob = as_person(city["bob"], "camfleet", "approve", "grant/crossings", "-n", grantee)
    assert bob.returncode == 0, bob.stderr
    assert "by bob" in bob.stdout
    bob_yes = bob.stdout.split()[0].removeprefix("grantapproval/")
    wait_for(lambda: approved(cluster, grantee, "crossings").get("status") == "True", what="approved by two")
    activated = time.monotonic() - started
    assert grant_status(cluster, grantee, "crossings")["approvedBy"] == ["alice", "bob"]

    # The same verdict again is refused, naming how to change one's mind.
    again = as_person(city["alice"], "camfleet", "approve", "grant/crossings", "-n", grantee)
    assert again.returncode == 1
    assert "alice already decided Approve on this grant" in again.stderr
    assert "`kubectl camfleet deny`" in again.stderr

    # bob replaces his approval with a denial: the newest counts, the history shows the supersession.
    deny = as_person(city["bob"], "camfleet", "deny", "grant/crossings", "-n", grantee,
                     "--reason", "the purpose does not need live view at night")  # fmt: skip
    assert deny.returncode == 0, deny.stderr
    bob_no = deny.stdout.split()[0].removeprefix("grantapproval/")
    denied = wait_for(lambda: (a := approved(cluster, grantee, "crossings")).get("status") == "False" and a,
                      what="denied by bob's newer decision")  # fmt: skip
    assert denied["reason"] == "Denied"
    history = grant_status(cluster, grantee, "crossings")["history"]
    superseded = [entry for entry in history if entry["decision"] == "Superseded"]
    assert [(e["actor"], e["approval"]) for e in superseded] == [("bob", bob_yes)]
    assert f"bob replaced Approve ({bob_yes}) with Deny ({bob_no})" in superseded[0]["message"]
    assert [e["decision"] for e in history][-2:] == ["Superseded", "Denied"]
    assert cluster.kubectl("get", "grantapproval", bob_yes, "-n", owner, check=False).returncode == 0  # kept

    # A GitOps controller's approval (a service account applying it from Git) is refused with why and what to do.
    from_git = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "GrantApproval",
        "metadata": {"name": "from-git", "namespace": owner},
        "spec": {"target": {"kind": "SharingGrant", "namespace": grantee, "name": "crossings"}, "verdict": "Approve"},
    }
    robot = f"system:serviceaccount:{city['gitops']}:{GITOPS}"
    applied = cluster.kubectl("apply", "--server-side", "-f", "-", f"--as={robot}", input=yaml.safe_dump(from_git),
                              check=False)  # fmt: skip
    assert applied.returncode != 0
    assert f"{robot} is a service account" in applied.stderr
    assert "never applied from Git" in applied.stderr
    assert "kubectl camfleet approve|deny" in applied.stderr

    # Deleting bob's denial while the grant lives is refused, even to a user RBAC lets delete; the grant stays Denied.
    deleted = as_person(city["alice"], "delete", "grantapproval", bob_no, "-n", owner)
    assert deleted.returncode != 0
    assert "is a record and is not deleted while what it decides on lives (audit rule R16)" in deleted.stderr
    time.sleep(2)
    assert approved(cluster, grantee, "crossings")["reason"] == "Denied"
    assert cluster.kubectl("get", "grantapproval", bob_no, "-n", owner, check=False).returncode == 0

    # A cluster administrator (who has the operator's rights) may remove one: the removal is in the grant's history.
    alice_yes = alice.stdout.split()[0].removeprefix("grantapproval/")
    cluster.kubectl("delete", "grantapproval", alice_yes, "-n", owner)
    removal = wait_for(
        lambda: [
            e for e in grant_status(cluster, grantee, "crossings")["history"] if e["decision"] == "ApprovalRemoved"
        ],
        what="the removal in the grant's history",
    )
    assert [(e["approval"], e["message"]) for e in removal] == [
        (alice_yes, "Approve by alice was deleted; it no longer counts (see the audit trail)")
    ]
    assert approved(cluster, grantee, "crossings")["reason"] == "Denied"  # bob's denial still counts

    # Once the grant is gone, its approvals may go.
    cluster.kubectl("delete", "sharinggrant", "crossings", "-n", grantee, "--wait=true")
    removed = as_person(city["alice"], "delete", "grantapproval", bob_no, "-n", owner)
    assert removed.returncode == 0, removed.stderr

    # The audit trail: each decision, the supersession, the refusals and the removal, each with who. The last
    # two records follow the deletions by moments (the audit writer batches): wait for them before reading.
    audited(operator, "ApprovalDeleted", f"GrantApproval {owner}/{bob_no}", where=lambda r: r["outcome"] == "admitted")
    audited(operator, "ApprovalRemoved", where=lambda r: r.get("approval") == alice_yes)
    recorded = {(r["actor"], r["outcome"]) for r in audit_records(operator, "ApprovalRecorded")
                if r["object"].startswith(f"GrantApproval {owner}/")}  # fmt: skip
    assert {("alice", "Approve"), ("bob", "Approve"), ("bob", "Deny")} <= recorded
    [change] = [
        r for r in audit_records(operator, "ApprovalSuperseded") if r["object"].endswith(f"{grantee}/crossings")
    ]
    assert (change["actor"], change["approval"]) == ("bob", bob_yes)
    refused = [r for r in audit_records(operator, "ApprovalRefused") if r["actor"] == robot]
    assert refused
    assert refused[0]["outcome"] == "refused"
    deletions = [(r["actor"], r["outcome"]) for r in audit_records(operator, "ApprovalDeleted")
                 if r["object"] == f"GrantApproval {owner}/{bob_no}"]  # fmt: skip
    assert deletions == [("alice", "refused"), ("alice", "admitted")]
    [admin] = [
        r for r in audit_records(operator, "ApprovalDeleted") if r["object"] == f"GrantApproval {owner}/{alice_yes}"
    ]
    whoami = json.loads(cluster.kubectl("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]["username"]
    assert (admin["outcome"], admin["actor"]) == ("admitted", whoami)
    assert any(r["approval"] == alice_yes for r in audit_records(operator, "ApprovalRemoved") if "approval" in r)
    print(f"\nsecond approval to Approved=True: {activated:.1f}s")


def test_the_plugin_decommissions_a_camera_and_requests_an_export_as_the_person(
    cluster: LocalCluster, operator: OperatorProcess, city: dict[str, Any]
) -> None:
    owner = city["owner"]
    wait_for(lambda: get_json(cluster, "camera", "old-gate", "-n", owner).get("status"), what="the camera observed")
    gone = as_person(city["alice"], "camfleet", "decommission", "old-gate", "-n", owner, "--timeout", "60")
    assert gone.returncode == 0, gone.stderr
    assert "camera/old-gate in" in gone.stdout
    assert "file the removal with the police within 30 days (rule R5)" in gone.stdout
    assert cluster.kubectl("get", "camera", "old-gate", "-n", owner, check=False).returncode != 0

    missing = as_person(city["alice"], "camfleet", "decommission", "no-such-camera", "-n", owner)
    assert missing.returncode == 1
    assert f"cannot read Camera {owner}/no-such-camera: 404" in missing.stderr

    request = as_person(
        city["bob"], "camfleet", "export", "create", "case-0418", "-n", owner, "--camera", "plaza",
        "--from", "2030-04-18T19:30:00+08:00", "--to", "2030-04-18T20:00:00+08:00",
        "--purpose", "traffic accident evidence", "--case-reference", "JT-2030-0418",
    )  # fmt: skip
    assert request.returncode == 0, request.stderr
    assert f"kubectl camfleet approve export/case-0418 -n {owner}" in request.stdout
    stored = get_json(cluster, "footageexport", "case-0418", "-n", owner)
    requester = decode_identity(stored["metadata"]["annotations"], REQUESTER_ANNOTATION)
    assert requester is not None
    assert requester[0] == "bob"
    assert stored["spec"]["ranges"] == [{"start": "2030-04-18T19:30:00+08:00", "end": "2030-04-18T20:00:00+08:00"}]

    # The requester may not approve it; another person's approval is stamped with them.
    alice = as_person(city["alice"], "camfleet", "approve", "export/case-0418", "-n", owner)
    assert alice.returncode == 0, alice.stderr
    assert f"Approve of FootageExport {owner}/case-0418 by alice" in alice.stdout
