"""A platform engineer's first hour: apply examples/, watch the fleet become Ready, remove it cleanly.

Removing it is what a user would do, within the rules: each recording camera is decommissioned first (R19), the
camfleet objects are deleted (a policy's legal hold is lifted first, by the legal-hold authority: the cluster
admin may not), and the recordings stay until their retention has passed (R3). The department
namespaces are kept: deleting one would have to delete retention volumes inside their retention, which the
retention guard refuses.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import condition, get_json, wait_for

from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.recording.holds import LEGAL_HOLD_AUTHORITY_GROUP
from e2e.conftest import Cluster

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KEPT = {"00-namespaces.yaml"}  # see the module's docstring


def lift_legal_holds(cluster: Cluster) -> None:
    """A policy's legal hold in force is the court's: the cluster admin may not delete the policy (R3, webhook
    `guard-policy-hold`), the legal-hold authority lifts the hold first. Its volumes keep their retention. The
    authority's people may read and patch recording policies cluster-wide, as a city would let them."""
    rbac = {"apiGroup": "rbac.authorization.k8s.io"}
    bindings = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "e2e-legal-hold-authority"},
            "rules": [{"apiGroups": ["camfleet.io"], "resources": ["recordingpolicies"], "verbs": ["get", "patch"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "e2e-legal-hold-authority"},
            "roleRef": {**rbac, "kind": "ClusterRole", "name": "e2e-legal-hold-authority"},
            "subjects": [{**rbac, "kind": "Group", "name": LEGAL_HOLD_AUTHORITY_GROUP}],
        },
    ]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": bindings}))
    for policy in get_json(cluster, "recordingpolicies", "-A").get("items", []):
        meta = policy["metadata"]
        if not (policy["spec"].get("legalHold") or {}).get("enabled"):
            continue
        refused = cluster.kubectl("delete", "recordingpolicy", meta["name"], "-n", meta["namespace"], check=False)
        assert refused.returncode != 0, "a policy whose legal hold is in force was deleted by the cluster admin"
        assert "only the legal-hold authority" in refused.stderr, refused.stderr
        lifted = cluster.kubectl(
            "patch", "recordingpolicy", meta["name"], "-n", meta["namespace"], "--type=merge",
            "--as=judge-e2e", f"--as-group={LEGAL_HOLD_AUTHORITY_GROUP}", "--as-group=system:authenticated",
            "-p", '{"spec": {"legalHold": {"enabled": false}}}', check=False,
        )  # fmt: skip
        assert lifted.returncode == 0, lifted.stderr
    cluster.kubectl(
        "delete",
        "-f",
        "-",
        "--ignore-not-found",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": bindings}),
    )


def test_example_fleet_becomes_ready_and_is_removed_cleanly(cluster: Cluster, operator: OperatorProcess | None) -> None:
    cluster.kubectl("apply", "-f", str(EXAMPLES))
    try:
        cameras = get_json(cluster, "cameras", "-A")["items"]
        assert len(cameras) >= 1

        def not_ready() -> dict[str, str]:
            """Each camera not Ready yet, with its Ready condition's reason and message (what a user would read)."""
            waiting = {}
            for item in get_json(cluster, "cameras", "-A")["items"]:
                ready = condition(item, "Ready") or {}
                if ready.get("status") != "True":
                    name = f"{item['metadata']['namespace']}/{item['metadata']['name']}"
                    waiting[name] = f"{ready.get('reason')}: {ready.get('message')}"
            return waiting

        last: dict[str, str] = {}

        def all_ready() -> bool:
            last.clear()
            last.update(not_ready())
            return not last

        try:
            wait_for(all_ready, timeout=120, what="every example Camera to be Ready")
        except AssertionError:
            raise AssertionError(f"not Ready after 120 s: {last}") from None
        table = cluster.kubectl("get", "camfleet", "-A").stdout
        for camera in cameras:
            assert camera["metadata"]["name"] in table
    finally:
        for camera in get_json(cluster, "cameras", "-A").get("items", []):
            meta = camera["metadata"]
            cluster.kubectl(
                "patch", "camera", meta["name"], "-n", meta["namespace"], "--type=merge",
                "-p", '{"spec": {"decommission": true}}',
            )  # fmt: skip
        lift_legal_holds(cluster)
        for manifest in sorted(EXAMPLES.glob("*.yaml")):
            if manifest.name not in KEPT:
                cluster.kubectl("delete", "-f", str(manifest), "--ignore-not-found", "--timeout=120s")
    assert get_json(cluster, "cameras", "-A").get("items", []) == []
    volumes = [
        claim
        for claim in get_json(cluster, "persistentvolumeclaims", "-A").get("items", [])
        if (claim["metadata"].get("labels") or {}).get("camfleet.io/retention-volume") == "true"
    ]
    assert volumes, "the example fleet recorded into retention volumes"
    for claim in volumes:  # released, not destroyed: kept until their retention has passed (R3)
        assert claim["metadata"]["annotations"].get("camfleet.io/retain-until"), claim["metadata"]["name"]
