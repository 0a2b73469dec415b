"""Issue 18, deliverable 3: the roles the chart ships for people, applied to the real API server and used by
people (impersonation, `--as`/`--as-group`) bound through exactly those roles.

- `camfleet-view` and `camfleet-edit` aggregate into the built-in `view`, `edit` and `admin` ClusterRoles (the
  real controller manager's aggregation controller fills them in), like cert-manager's and CloudNativePG's.
- The department roles (`camfleet-department-admin|approver|viewer`) are bound to groups in a department's
  namespace by the chart's `departments` value. Approvers create GrantApprovals; viewers read; admins manage
  cameras, policies, grants and exports; nobody but the operator writes status, and nobody updates or deletes
  an approval (a record).

Asked twice: `kubectl auth can-i` (the API server's SubjectAccessReview) and real requests (create, patch of
the status subresource, delete), whose refusals are the API server's "Forbidden".
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from camfleet.devcluster.chart import Chart, of_kind
from camfleet.devcluster.cluster import LocalCluster
from tests.helpers import get_json, wait_for
from tests.integration.conftest import REPO
from tests.integration.manifests import credentials_secret, unreachable_camera

ADMINS, APPROVERS, VIEWERS = "roles-test:admins", "roles-test:approvers", "roles-test:staff"
USER_ROLES_TEMPLATE = "templates/user-roles.yaml"
# Every camfleet kind a department holds, and its status.
KINDS = ("cameras", "recordingpolicies", "sharinggrants", "grantapprovals", "footageexports")


@pytest.fixture(scope="module")
def chart() -> Chart:
    return Chart(directory=REPO / "charts" / "camfleet")


@pytest.fixture
def department(chart: Chart, cluster: LocalCluster, crds_installed: None) -> Iterator[str]:
    """A department namespace with the chart's user roles and its three groups bound there, as documented in
    docs/install.md (the rendered template, applied as Helm would)."""
    name = f"dept-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    rendered = chart.run(
        "template", "camfleet", str(chart.directory), "--namespace", "camfleet-system", "-s", USER_ROLES_TEMPLATE,
        "--set", f"departments[0].namespace={name}",
        "--set", f"departments[0].adminGroups={{{ADMINS}}}",
        "--set", f"departments[0].approverGroups={{{APPROVERS}}}",
        "--set", f"departments[0].viewerGroups={{{VIEWERS}}}",
    )  # fmt: skip
    objects = [doc for doc in yaml.safe_load_all(rendered) if doc]
    assert {o["metadata"]["name"] for o in of_kind(objects, "ClusterRole")} == {
        "camfleet-view", "camfleet-edit", "camfleet-department-admin", "camfleet-department-approver",
        "camfleet-department-viewer",
    }  # fmt: skip
    assert len(of_kind(objects, "RoleBinding")) == 3
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=helm-roles-test", "-f", "-",
        input=yaml.safe_dump_all(objects),
    )  # fmt: skip
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def as_person(user: str, group: str) -> list[str]:
    return [f"--as={user}", f"--as-group={group}", "--as-group=system:authenticated"]


def can_i(cluster: LocalCluster, who: list[str], verb: str, resource: str, namespace: str) -> bool:
    """`kubectl auth can-i`; "kind/status" asks for the status subresource (kubectl would read "status" as a name)."""
    kind, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    done = cluster.kubectl("auth", "can-i", verb, kind, *extra, "-n", namespace, *who, check=False)
    assert done.stdout.strip() in ("yes", "no"), done.stderr
    return done.stdout.strip() == "yes"


def create(cluster: LocalCluster, who: list[str], obj: dict[str, Any]) -> Any:
    return cluster.kubectl("create", "-f", "-", *who, input=json.dumps(obj), check=False)


def approval(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "GrantApproval",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "target": {"kind": "SharingGrant", "namespace": "elsewhere", "name": "study"},
            "verdict": "Approve",
            "documentReference": f"QD-GA-{name}",
            "reason": "Needed for the study",
        },
    }


def assert_forbidden(done: Any, verb: str, resource: str) -> None:
    assert done.returncode != 0, f"{verb} {resource} was allowed"
    assert "Forbidden" in done.stderr, done.stderr
    assert f'cannot {verb} resource "{resource}"' in done.stderr, done.stderr


def test_department_roles_allow_each_group_what_the_docs_say_and_nothing_more(
    cluster: LocalCluster, department: str
) -> None:
    admin, approver, viewer = as_person("ada", ADMINS), as_person("alice", APPROVERS), as_person("vic", VIEWERS)
    stranger = as_person("mallory", "other-department:admins")

    # What `kubectl auth can-i` answers for each group in the department's namespace.
    for kind in ("cameras", "recordingpolicies", "sharinggrants", "footageexports"):
        for verb in ("create", "update", "patch", "delete", "list"):
            assert can_i(cluster, admin, verb, kind, department), f"admin {verb} {kind}"
        assert not can_i(cluster, approver, "create", kind, department), f"approver create {kind}"
    for kind in KINDS:
        for who in (admin, approver, viewer):
            assert can_i(cluster, who, "list", kind, department)
            assert not can_i(cluster, who, "patch", f"{kind}/status", department), f"{who[0]} writes {kind} status"
            assert not can_i(cluster, who, "update", f"{kind}/status", department)
        for verb in ("create", "update", "patch", "delete"):
            assert not can_i(cluster, viewer, verb, kind, department), f"viewer {verb} {kind}"
        assert not can_i(cluster, stranger, "list", kind, department), f"stranger lists {kind}"
    assert can_i(cluster, approver, "create", "grantapprovals", department)
    for who in (admin, approver):
        for verb in ("update", "patch", "delete"):
            assert not can_i(cluster, who, verb, "grantapprovals", department), "an approval is a record (R16)"
    assert not can_i(cluster, admin, "create", "grantapprovals", department), "deciding is the approvers' role"
    assert can_i(cluster, admin, "get", "secrets", department)
    assert not can_i(cluster, admin, "list", "secrets", department), "Secrets are read by name only"
    for who in (approver, viewer):
        assert not can_i(cluster, who, "get", "secrets", department)
    # Admins and viewers find the volumes holding their export copies; nobody but camfleet writes them.
    for who in (admin, viewer):
        assert can_i(cluster, who, "get", "persistentvolumeclaims", department)
        for verb in ("create", "patch", "delete"):
            assert not can_i(cluster, who, verb, "persistentvolumeclaims", department), f"{who[0]} {verb}s volumes"
    for who in (admin, approver, viewer):
        assert not can_i(cluster, who, "list", "cameras", "default"), "a department role reaches one namespace"

    # Real requests. The admin stores a camera's credentials and creates the camera.
    secret = credentials_secret(department, "gate-onvif", "not-a-real-password")
    done = create(cluster, admin, secret)
    assert done.returncode == 0, done.stderr
    camera = unreachable_camera(department, "gate", None)
    camera["spec"]["credentialsSecretRef"] = {"name": "gate-onvif"}
    done = create(cluster, admin, camera)
    assert done.returncode == 0, done.stderr
    # Nobody but the operator writes status.
    status = json.dumps({"status": {"conditions": []}})
    for who in (admin, approver, viewer):
        done = cluster.kubectl(
            "patch", "camera", "gate", "-n", department, "--subresource=status", "--type=merge", "-p", status,
            *who, check=False,
        )  # fmt: skip
        assert_forbidden(done, "patch", "cameras/status")
    # The viewer reads the camera and changes nothing.
    listed = cluster.kubectl("get", "cameras", "-n", department, "-o", "name", *viewer)
    assert listed.stdout.strip() == "camera.camfleet.io/gate"
    assert_forbidden(create(cluster, viewer, unreachable_camera(department, "other", None)), "create", "cameras")
    done = cluster.kubectl("delete", "camera", "gate", "-n", department, *viewer, check=False)
    assert_forbidden(done, "delete", "cameras")
    # The approver decides; nobody else does, and nobody removes the record.
    done = create(cluster, approver, approval(department, "by-alice"))
    assert done.returncode == 0, done.stderr
    for who, name in ((admin, "by-ada"), (viewer, "by-vic"), (stranger, "by-mallory")):
        assert_forbidden(create(cluster, who, approval(department, name)), "create", "grantapprovals")
    for who in (admin, approver, viewer):
        done = cluster.kubectl("delete", "grantapproval", "by-alice", "-n", department, *who, check=False)
        assert_forbidden(done, "delete", "grantapprovals")
    assert get_json(cluster, "grantapproval", "by-alice", "-n", department)["metadata"]["name"] == "by-alice"
    # The stranger sees nothing of the department.
    done = cluster.kubectl("get", "cameras", "-n", department, *stranger, check=False)
    assert_forbidden(done, "list", "cameras")


def test_camfleet_view_and_edit_aggregate_into_the_built_in_roles(cluster: LocalCluster, department: str) -> None:
    """A namespace's `view` users read camfleet objects, its `edit` users manage them, as with cert-manager."""
    bindings = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"builtin-{role}", "namespace": department},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": f"{role}-user"}],
        }
        for role in ("view", "edit")
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(bindings))
    viewer, editor = [f"--as={'view'}-user"], ["--as=edit-user"]

    # The controller manager's aggregation controller copies the rules in (within seconds).
    wait_for(lambda: can_i(cluster, viewer, "list", "cameras", department), what="camfleet-view aggregated")
    wait_for(lambda: can_i(cluster, editor, "create", "cameras", department), what="camfleet-edit aggregated")
    view_rules = get_json(cluster, "clusterrole", "view")["rules"]
    assert any("camfleet.io" in rule.get("apiGroups", []) for rule in view_rules)
    for kind in KINDS:
        assert can_i(cluster, viewer, "watch", kind, department)
        assert not can_i(cluster, viewer, "create", kind, department)
        assert not can_i(cluster, editor, "patch", f"{kind}/status", department)
    for kind in ("cameras", "recordingpolicies", "sharinggrants", "footageexports"):
        assert can_i(cluster, editor, "delete", kind, department)
    assert not can_i(cluster, editor, "create", "grantapprovals", department), "deciding is the approvers' role"
    done = create(cluster, editor, unreachable_camera(department, "lobby", None))
    assert done.returncode == 0, done.stderr
    assert_forbidden(create(cluster, viewer, unreachable_camera(department, "hall", None)), "create", "cameras")
