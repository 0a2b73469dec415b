"""Issue 15, attacks 1, 3, 6 and 7 on the real control plane, tried as the person who would try them.

- 1: an ordinary department user with RBAC to patch and delete claims in their namespace cannot lower
  retain-until, lift a legal hold or delete a volume inside its retention (the refusal names R3), and the
  janitor does not destroy a volume whose retain-until was written earlier past the guard; the legal-hold
  authority sets and lifts a hold, and the audit record names them; nor can they take the
  `camfleet.io/retention-volume` label off (the chart's ValidatingAdmissionPolicy, enforced by the API server);
- 3: a hand-edited recorder (its legal-hold variable) is put back, with a WorkloadReverted Event;
- 6: a foreign Secret `s3-access` survives a Pending grant `s3`, which says NameConflict;
- 7: a destruction writes an audit record with action, object, reason, actor and what it was judged on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from camfleet.devcluster.chart import Chart
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from camfleet.recording.holds import LEGAL_HOLD_AUTHORITY_GROUP, release_annotations, timestamp
from tests.helpers import DEPARTMENT_GROUP, audit_records, audited, condition, events_for, get_json, wait_for
from tests.integration.manifests import GRANT_APPLICATION, unreachable_camera
from tests.integration.test_recording import (  # noqa: F401 - the module's fixture
    apply,
    policy,
    recorded_camera,
    static_volume,
    storage_classes,
)
from tests.integration.test_user_roles import ADMINS, chart, department  # noqa: F401 - the chart's department roles

DEPARTMENT_USER = "dora"
AUTHORITY_USER = "judge-li"


def guarded_volume(namespace: str, name: str, annotations: dict[str, str]) -> dict[str, Any]:
    """A released retention volume as camfleet labels it (created by the admin: creation is not guarded)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "camfleet",
                "app.kubernetes.io/component": "retention-volume",
                "camfleet.io/retention-volume": "true",
                "camfleet.io/camera": name.removesuffix("-recordings"),
            },
            "annotations": annotations,
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


@pytest.fixture
def claim_editors(cluster: LocalCluster, namespace: str) -> Iterator[str]:
    """A Role letting the department (and the legal-hold authority) patch and delete claims in the namespace."""
    objects = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "claim-editor", "namespace": namespace},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["persistentvolumeclaims"],
                    "verbs": ["get", "list", "patch", "update", "delete"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "claim-editor", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "claim-editor"},
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": f"{DEPARTMENT_GROUP}{namespace}"},
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": LEGAL_HOLD_AUTHORITY_GROUP},
            ],
        },
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    return namespace


def as_department(cluster: LocalCluster, namespace: str, *args: str) -> Any:
    return cluster.kubectl(
        *args, "-n", namespace, f"--as={DEPARTMENT_USER}", f"--as-group={DEPARTMENT_GROUP}{namespace}",
        "--as-group=system:authenticated", check=False,
    )  # fmt: skip


def as_authority(cluster: LocalCluster, namespace: str, *args: str) -> Any:
    return cluster.kubectl(
        *args, "-n", namespace, f"--as={AUTHORITY_USER}", f"--as-group={LEGAL_HOLD_AUTHORITY_GROUP}",
        "--as-group=system:authenticated", check=False,
    )  # fmt: skip


def annotations(cluster: LocalCluster, namespace: str, name: str) -> dict[str, str]:
    return dict(get_json(cluster, "pvc", name, "-n", namespace).get("metadata", {}).get("annotations") or {})


def test_attack1_nobody_moves_retention_earlier_and_only_the_authority_moves_a_legal_hold(
    cluster: LocalCluster, operator: OperatorProcess, claim_editors: str
) -> None:
    namespace = claim_editors
    now = datetime.now(UTC).replace(microsecond=0)
    release = {k: str(v) for k, v in release_annotations(now, 30).items()}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(guarded_volume(namespace, "kept-recordings", release)))
    held = {**release, "camfleet.io/legal-hold": "Court order 2026-301"}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(guarded_volume(namespace, "held-recordings", held)))
    # Written past the guard (creation is not guarded): only retain-until says "past".
    forged = {**release, "camfleet.io/retain-until": timestamp(now - timedelta(days=1))}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(guarded_volume(namespace, "forged-recordings", forged)))

    past = timestamp(now - timedelta(minutes=1))
    lowered = wait_for(  # the webhook configuration follows the operator's start
        lambda: (
            r := as_department(
                cluster, namespace, "annotate", "pvc", "kept-recordings", f"camfleet.io/retain-until={past}",
                "--overwrite",
            )
        ).returncode != 0 and r,
        what="lowering retain-until refused",
    )  # fmt: skip
    assert "R3" in lowered.stderr
    assert "earlier" in lowered.stderr
    removed = as_department(cluster, namespace, "annotate", "pvc", "kept-recordings", "camfleet.io/retain-until-")
    assert removed.returncode != 0
    assert "R3" in removed.stderr
    lifted = as_department(cluster, namespace, "annotate", "pvc", "held-recordings", "camfleet.io/legal-hold-")
    assert lifted.returncode != 0
    assert "R3" in lifted.stderr
    assert LEGAL_HOLD_AUTHORITY_GROUP in lifted.stderr
    deleted = as_department(cluster, namespace, "delete", "pvc", "kept-recordings", "--wait=false")
    assert deleted.returncode != 0
    assert "R3" in deleted.stderr
    assert "inside its retention" in deleted.stderr
    admin_delete = cluster.kubectl("delete", "pvc", "held-recordings", "-n", namespace, "--wait=false", check=False)
    assert admin_delete.returncode != 0, "by anyone, the admin too"
    assert "legal hold" in admin_delete.stderr
    assert (
        annotations(cluster, namespace, "kept-recordings")["camfleet.io/retain-until"]
        == release["camfleet.io/retain-until"]
    )

    # The legal-hold authority sets a hold and lifts it; the audit records name them.
    set_hold = as_authority(
        cluster, namespace, "annotate", "pvc", "kept-recordings", "camfleet.io/legal-hold=Case 2026-77"
    )
    assert set_hold.returncode == 0, set_hold.stderr
    assert (
        as_authority(cluster, namespace, "annotate", "pvc", "held-recordings", "camfleet.io/legal-hold-").returncode
        == 0
    )
    assert "camfleet.io/legal-hold" not in annotations(cluster, namespace, "held-recordings")
    records = wait_for(
        lambda: (
            [
                r
                for action in ("LegalHoldSet", "LegalHoldLifted")
                for r in audit_records(operator, action)
                if r["actor"] == AUTHORITY_USER and namespace in r["object"]
            ]
            if len(audit_records(operator, "LegalHoldLifted")) > 0
            else None
        ),
        what="audit records of the hold changes",
    )
    assert {r["action"] for r in records} == {"LegalHoldSet", "LegalHoldLifted"}
    assert all(r["outcome"] == "admitted" and r["reason"] for r in records)
    refused = audited(operator, "ChangeRetention", where=lambda r: r["actor"] == DEPARTMENT_USER)
    assert refused
    assert all("R3" in r["reason"] for r in refused)

    # The janitor judges from the release (now, 30 days' retention), not from the forged retain-until: had it
    # trusted the annotation, it would have been due at once.
    time.sleep(4)
    forged_now = get_json(cluster, "pvc", "forged-recordings", "-n", namespace)
    assert forged_now, "a forged retain-until moves nothing"
    assert not forged_now["metadata"].get("deletionTimestamp")
    assert get_json(cluster, "pvc", "kept-recordings", "-n", namespace)


RETENTION_POLICY_TEMPLATE = "templates/retention-policy.yaml"


@pytest.fixture
def retention_label_policy(cluster: LocalCluster, namespace: str) -> Iterator[list[dict[str, Any]]]:
    """The chart's ValidatingAdmissionPolicy and Binding, rendered by helm exactly as docs/install.md applies them
    without the chart (`helm template ... -s templates/retention-policy.yaml | kubectl apply -f -`); removed after."""
    helm_chart = Chart()
    rendered = helm_chart.run(
        "template", f"camfleet-{namespace}", str(helm_chart.directory), "--namespace", namespace,
        "-s", RETENTION_POLICY_TEMPLATE,
    )  # fmt: skip
    objects = [doc for doc in yaml.safe_load_all(rendered) if doc]
    assert (
        sorted(obj["kind"] for obj in objects)
        == ["ValidatingAdmissionPolicy"] * 2 + ["ValidatingAdmissionPolicyBinding"] * 2
    )
    cluster.kubectl("apply", "-f", "-", input=rendered)
    yield objects
    for obj in reversed(objects):
        cluster.kubectl("delete", obj["kind"], obj["metadata"]["name"], "--ignore-not-found", check=False)


def labels(cluster: LocalCluster, namespace: str, name: str) -> dict[str, str]:
    return dict(get_json(cluster, "pvc", name, "-n", namespace).get("metadata", {}).get("labels") or {})


def test_attack1_nobody_takes_the_retention_label_off_a_volume(
    cluster: LocalCluster, operator: OperatorProcess, claim_editors: str, retention_label_policy: list[dict[str, Any]]
) -> None:
    """kopf matches guard-retention on the new object, so an update removing `camfleet.io/retention-volume` runs no
    handler; the chart's ValidatingAdmissionPolicy refuses it in the API server itself (R3)."""
    namespace = claim_editors
    now = datetime.now(UTC).replace(microsecond=0)
    release = {k: str(v) for k, v in release_annotations(now, 30).items()}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(guarded_volume(namespace, "kept-recordings", release)))
    ordinary = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "scratch", "namespace": namespace, "labels": {"team": "parks"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(ordinary))

    # A binding is enforced a moment after it is created: ask with a dry run until the API server refuses.
    refused = wait_for(
        lambda: (
            r := as_department(
                cluster, namespace, "label", "pvc", "kept-recordings", "camfleet.io/retention-volume-",
                "--dry-run=server",
            )
        ).returncode != 0 and r,
        timeout=60, what="the retention label policy enforced",
    )  # fmt: skip
    assert "R3" in refused.stderr, refused.stderr
    assert "camfleet.io/retention-volume label" in refused.stderr

    removed = as_department(cluster, namespace, "label", "pvc", "kept-recordings", "camfleet.io/retention-volume-")
    assert removed.returncode != 0
    assert "R3" in removed.stderr
    assert "ValidatingAdmissionPolicy" in removed.stderr, "refused by the API server, not by the webhook"
    changed = as_department(
        cluster, namespace, "label", "pvc", "kept-recordings", "camfleet.io/retention-volume=false", "--overwrite"
    )
    assert changed.returncode != 0
    assert "R3" in changed.stderr
    assert labels(cluster, namespace, "kept-recordings")["camfleet.io/retention-volume"] == "true"

    # Still labelled, so still guarded: deleting it inside its retention is refused, and it survives.
    deleted = as_department(cluster, namespace, "delete", "pvc", "kept-recordings", "--wait=false")
    assert deleted.returncode != 0
    assert "R3" in deleted.stderr
    kept = get_json(cluster, "pvc", "kept-recordings", "-n", namespace)
    assert kept
    assert not kept["metadata"].get("deletionTimestamp")

    # The policy is about that label only: other labels of a retention volume and ordinary claims stay editable.
    noted = as_department(cluster, namespace, "label", "pvc", "kept-recordings", "note=evidence-room")
    assert noted.returncode == 0, noted.stderr
    relabelled = as_department(cluster, namespace, "label", "pvc", "scratch", "team-", "purpose=scratch")
    assert relabelled.returncode == 0, relabelled.stderr
    assert labels(cluster, namespace, "scratch") == {"purpose": "scratch"}


def test_attack7_a_destruction_writes_a_complete_audit_record(
    cluster: LocalCluster, operator: OperatorProcess, namespace: str
) -> None:
    released_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=31)
    release = {k: str(v) for k, v in release_annotations(released_at, 30).items()}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(guarded_volume(namespace, "old-recordings", release)))

    def record() -> dict[str, Any] | None:
        found = [
            r
            for r in audit_records(operator, "DestroyRecordings")
            if r["object"].endswith(f"{namespace}/old-recordings")
        ]
        return found[0] if found else None

    destroyed = wait_for(record, timeout=30, what="the destruction's audit record")
    assert destroyed["object"] == f"PersistentVolumeClaim {namespace}/old-recordings"
    assert destroyed["outcome"] == "destroyed"
    assert destroyed["actor"] == "camfleet-operator"
    assert "R4" in destroyed["reason"]
    assert destroyed["time"]
    assert destroyed["releasedAt"] == release["camfleet.io/released-at"]
    assert destroyed["retentionDays"] == "30"
    assert destroyed["camera"] == "old"
    assert destroyed["destructionDue"] == release["camfleet.io/retain-until"]
    assert "RecordingsDestroyed" in [e["reason"] for e in events_for(cluster, namespace, "old-recordings")]


def test_attack3_a_hand_edited_recorder_is_put_back_with_an_event(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera: str,
    namespace: str,
    storage_classes: None,  # noqa: F811
) -> None:
    static_volume(cluster, namespace, "evidence")
    apply(cluster, [policy(namespace, "held", legalHold={"enabled": True, "reference": "Court order 2026-9"})])
    apply(cluster, recorded_camera(namespace, "evidence", sim, sim_camera))

    def hold_env() -> str | None:
        recorder = get_json(cluster, "deployment", "evidence-recorder", "-n", namespace)
        containers = recorder.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}]
        env = {e["name"]: e.get("value") for e in containers[0].get("env", [])}
        return env.get("CAMFLEET_LEGAL_HOLD")

    assert wait_for(hold_env, what="the recorder") == "true"
    cluster.kubectl("set", "env", "deployment/evidence-recorder", "-n", namespace, "CAMFLEET_LEGAL_HOLD=false")
    wait_for(lambda: hold_env() == "true", timeout=30, what="the hand edit put back")
    wait_for(
        lambda: "WorkloadReverted" in [e["reason"] for e in events_for(cluster, namespace, "evidence")],
        what="a WorkloadReverted Event",
    )


def test_attack6_a_foreign_secret_survives_a_pending_grant_of_that_name(
    cluster: LocalCluster, operator: OperatorProcess, crds_installed: None
) -> None:
    suffix = uuid.uuid4().hex[:6]
    owner, grantee = f"owner-{suffix}", f"grantee-{suffix}"
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": owner}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": grantee}},
        unreachable_camera(owner, "plaza", "Conditional"),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s3-access", "namespace": grantee},
            "stringData": {"AWS_ACCESS_KEY_ID": "someone-elses"},
        },
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    now = datetime.now(UTC)
    grant = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "SharingGrant",
        "metadata": {"name": "s3", "namespace": grantee},
        "spec": {
            "cameras": {"namespace": owner, "names": ["plaza"]},
            "permissions": ["LiveView"],
            "period": {"start": now.isoformat(), "end": (now + timedelta(days=7)).isoformat()},
            "purpose": "Plan pedestrian crossings",
            "shareClass": "Conditional",
            "application": GRANT_APPLICATION,
        },
    }
    try:
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(grant))

        def conflict() -> dict[str, Any] | None:
            found = condition(get_json(cluster, "sharinggrant", "s3", "-n", grantee), "Active")
            return found if found and found.get("reason") == "NameConflict" else None

        active = wait_for(conflict, timeout=30, what="Active=False NameConflict")
        assert active["status"] == "False"
        assert "s3-access" in active["message"]
        assert get_json(cluster, "secret", "s3-access", "-n", grantee), "someone else's Secret must survive"
        assert "NameConflict" in [e["reason"] for e in events_for(cluster, grantee, "s3")]
    finally:
        cluster.kubectl("delete", "namespace", owner, grantee, "--wait=false", check=False)


def test_attack1_a_department_cannot_lift_its_policys_legal_hold_by_edit_apply_or_delete(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera: str,
    department: str,  # noqa: F811
    storage_classes: None,  # noqa: F811
) -> None:
    """The department's admins (bound through the chart's department-admin role) own their RecordingPolicy. Had
    they lifted its legal hold, camfleet would lift the hold on the volumes it records, and their recordings would
    be destroyed once past retention. Every door is tried: patch, apply of an edited manifest, delete (a policy
    re-created under the same name without the hold would be the same policy to the volume)."""
    namespace = department
    court_order = "Court order 2026-311"
    static_volume(cluster, namespace, "quay")
    apply(cluster, [policy(namespace, "held", legalHold={"enabled": True, "reference": court_order})])
    apply(cluster, recorded_camera(namespace, "quay", sim, sim_camera))
    wait_for(
        lambda: annotations(cluster, namespace, "quay-recordings").get("camfleet.io/legal-hold") == court_order,
        what="the policy's hold on the camera's retention volume",
    )
    admin = ["--as=mallory", f"--as-group={ADMINS}", "--as-group=system:authenticated"]
    lifted = policy(namespace, "held", legalHold={"enabled": False})
    attempts = {
        "patch": cluster.kubectl(
            "patch", "recordingpolicy", "held", "-n", namespace, "--type=merge", *admin,
            "-p", '{"spec": {"legalHold": {"enabled": false}}}', check=False,
        ),
        "apply": cluster.kubectl("apply", "-f", "-", *admin, input=yaml.safe_dump(lifted), check=False),
        "other case": cluster.kubectl(
            "patch", "recordingpolicy", "held", "-n", namespace, "--type=merge", *admin,
            "-p", '{"spec": {"legalHold": {"reference": "Closed 2026-1"}}}', check=False,
        ),
        "delete": cluster.kubectl("delete", "recordingpolicy", "held", "-n", namespace, *admin, check=False),
    }  # fmt: skip
    for door, done in attempts.items():
        assert done.returncode != 0, f"{door} was admitted"
        assert "by mallory is refused: only the legal-hold authority" in done.stderr, (door, done.stderr)
        assert "(rule R3:" in done.stderr, door
    assert "deleting RecordingPolicy" in attempts["delete"].stderr
    held = get_json(cluster, "recordingpolicy", "held", "-n", namespace)["spec"]["legalHold"]
    assert held == {"enabled": True, "reference": court_order}
    refused = audited(
        operator, "LegalHoldLifted", f"RecordingPolicy {namespace}/held", where=lambda r: r["outcome"] == "refused"
    )
    assert {r["actor"] for r in refused} == {"mallory"}
    time.sleep(3)  # what the operator would have done by now, had a lift got through
    assert annotations(cluster, namespace, "quay-recordings").get("camfleet.io/legal-hold") == court_order

    # The legal-hold authority lifts it (its members also bound through the department's role here), and only
    # then does camfleet lift the volume's hold: the door is closed to the department, not to the court.
    judge = [f"--as={AUTHORITY_USER}", f"--as-group={ADMINS}", f"--as-group={LEGAL_HOLD_AUTHORITY_GROUP}"]
    done = cluster.kubectl(
        "patch", "recordingpolicy", "held", "-n", namespace, "--type=merge", *judge,
        "-p", '{"spec": {"legalHold": {"enabled": false}}}', check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    wait_for(
        lambda: "camfleet.io/legal-hold" not in annotations(cluster, namespace, "quay-recordings"),
        what="the volume's hold lifted as its policy now says",
    )
    admitted = audited(
        operator, "LegalHoldLifted", f"RecordingPolicy {namespace}/held", where=lambda r: r["outcome"] == "admitted"
    )
    assert admitted[-1]["actor"] == AUTHORITY_USER


def test_attack1_nobody_but_camfleet_changes_or_deletes_a_chain_checkpoint(
    cluster: LocalCluster, operator: OperatorProcess, namespace: str, retention_label_policy: list[dict[str, Any]]
) -> None:
    """The `<camera>-chain` ConfigMap holds the operator-signed heads of a camera's hash chain (what `camfleet
    verify` names a cut-off tail by). A department with the built-in `edit` role (it writes ConfigMaps) tries to
    delete it, to rewrite it and to take its label off. (Whoever may write RecordingPolicy status counts as
    camfleet, as for retention volumes: cluster admins do.)"""
    checkpoint = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "gate-chain",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "camfleet", "app.kubernetes.io/component": "chain-checkpoint"},
        },
        "data": {"latest": '{"seq": 41}'},
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(checkpoint))  # as camfleet would have (creation is free)
    editors = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "department-edit", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": f"{DEPARTMENT_GROUP}{namespace}"}
        ],
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(editors))
    # The label policy's binding is enforced a moment after it is created: ask with a dry run until it refuses.
    wait_for(
        lambda: as_department(
            cluster, namespace, "label", "configmap", "gate-chain", "app.kubernetes.io/component-", "--dry-run=server"
        ).returncode != 0,
        timeout=60, what="the chain checkpoint label policy enforced",
    )  # fmt: skip
    attempts = {
        "delete": as_department(cluster, namespace, "delete", "configmap", "gate-chain"),
        "rewrite": as_department(cluster, namespace, "patch", "configmap", "gate-chain", "--type=merge",
                                 "-p", '{"data": {"latest": "{\\"seq\\": 12}"}}'),
        "unlabel": as_department(
            cluster, namespace, "label", "configmap", "gate-chain", "app.kubernetes.io/component-"
        ),
    }  # fmt: skip
    for door, done in attempts.items():
        assert done.returncode != 0, f"{door} was admitted"
        assert "chain checkpoint ConfigMap" in done.stderr, (door, done.stderr)
        assert "(rule R3" in done.stderr, (door, done.stderr)
    kept = get_json(cluster, "configmap", "gate-chain", "-n", namespace)
    assert kept["data"] == {"latest": '{"seq": 41}'}
    assert kept["metadata"]["labels"]["app.kubernetes.io/component"] == "chain-checkpoint"
    refused = audited(operator, "ChangeChainCheckpoint", f"ConfigMap {namespace}/gate-chain")
    assert DEPARTMENT_USER in {r["actor"] for r in refused}
