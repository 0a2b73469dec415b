"""Issue 7: the Helm chart, rendered by Helm built from its Go module, on the real local control plane.

- `helm lint` and `helm template` with the default values and with tests/chart/values-full.yaml.
- The rendered default chart applies server-side (CRDs from the chart's crds/), and its pods pass the
  `restricted` Pod Security Standard.
- The real operator runs authenticated AS the chart's ServiceAccount (a TokenRequest token), so it has exactly
  the chart's RBAC, through a camera + recording + grant scenario; its log must not show one forbidden call.

Webhooks in the RBAC scenario: the operator runs outside the cluster, so the test installs the chart's OWN
webhook configurations (same names, rules, paths, failure policy) with only the clientConfig pointed at the
local operator (url + a CA made here). That keeps the operator's RBAC exactly the chart's (it never writes
webhook configurations, as in the cluster) and proves the chart's paths reach kopf's handlers.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from camfleet.devcluster import chart_webhooks, example_fleet
from camfleet.devcluster.chart import Chart, HelmFailed, needs_optional_crds, of_kind, one_of_kind
from camfleet.devcluster.chart_crds import differences
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.helm import HELM_VERSION, helm_path
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.service_account import token_kubeconfig
from camfleet.devcluster.sim_process import SimProcess
from camfleet.gateway.people import PERSON_TOKEN_HEADER
from camfleet.kube.pod_role import ROLE_LABEL
from camfleet.kube.webhook_tls import make_webhook_certificate
from tests.helpers import condition, get_json, wait_for, wait_ready
from tests.integration.conftest import ARTIFACTS, OPERATOR_TEST_FLAGS, REPO, require_no_session_operator
from tests.integration.manifests import as_yaml, camera_with_secret
from tests.integration.test_access import access_token
from tests.integration.test_ptz_control import ptz_direct

FULL_VALUES = REPO / "tests" / "chart" / "values-full.yaml"
REQUIRED_ALERTS = {
    "CamfleetCameraOffline",
    "CamfleetDepartmentOnlineRateLow",
    "CamfleetFilingOverdue",
    "CamfleetApprovalOverdue",
    "CamfleetRetentionCapacityShort",
    "CamfleetRevocationSlow",
    "CamfleetEventLoopLagHigh",
}
STORAGE_CLASS = "camfleet-chart-test"
APPROVER_ANNOTATION = "camfleet.io/approver"
OPERATOR_POD = "camfleet-operator-0"
# "forbidden" in any spelling, kopf's "not enough permissions", or a 403 that is not the millisecond part
# of a log timestamp (",403").
FORBIDDEN = re.compile(r"(?i)forbidden|not enough permissions|(?<![\d,.:])403(?!\d)")


@pytest.fixture(scope="module")
def chart() -> Chart:
    return Chart(directory=REPO / "charts" / "camfleet")


def release_for(namespace: str) -> str:
    return f"camfleet-{namespace}"


def operator_cluster_role(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The operator's own ClusterRole (named after the release), not the roles for people (user-roles.yaml)."""
    deployment = one_of_kind(objects, "Deployment")["metadata"]["name"]
    return next(role for role in of_kind(objects, "ClusterRole") if role["metadata"]["name"] == deployment)


# --- lint and template -------------------------------------------------------------------------------------


def test_helm_is_built_from_its_go_module_and_stamped(chart: Chart) -> None:
    assert chart.helm == helm_path(HELM_VERSION)
    assert chart.run("version", "--template", "{{ .Version }}") == HELM_VERSION


@pytest.mark.parametrize("values", [[], [FULL_VALUES]], ids=["default", "full"])
def test_helm_lint_is_clean(chart: Chart, values: list[Path]) -> None:
    out = chart.lint(values)
    assert "0 chart(s) failed" in out
    assert "[WARNING]" not in out
    assert "[ERROR]" not in out


def test_default_values_render_the_operator_with_a_generated_certificate(chart: Chart) -> None:
    objects = chart.template("camfleet", "camfleet-system")
    kinds = {obj["kind"] for obj in objects}
    assert kinds >= {
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Secret", "Service",
        "ClusterKopfPeering", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ConfigMap",
        "PodDisruptionBudget",
    }  # fmt: skip
    assert not [obj for obj in objects if needs_optional_crds(obj)], "monitoring and cert-manager are opt-in"
    assert "NetworkPolicy" not in kinds

    deployment = one_of_kind(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    args = container["args"]
    assert args[0] == "run"
    assert "--webhook-external-configuration" in args
    assert "--no-webhooks" not in args
    assert "--webhook-cert-dir=/etc/camfleet/webhook-tls" in args
    assert "--standalone" not in args, "HA through peering"
    assert "--install-crds" not in args, "the chart owns the CRDs"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8080,
        "webhook": 9443,
        "decision": 8443,
    }

    services = {svc["metadata"]["name"]: svc["spec"]["ports"][0] for svc in of_kind(objects, "Service")}
    assert services["camfleet-webhook"]["port"] == 443
    assert services["camfleet-webhook"]["targetPort"] == "webhook"
    assert services["camfleet-decision"]["port"] == 8443
    assert services["camfleet-metrics"]["port"] == 8080

    # The media gateway's credential for the decision endpoint: a random token, generated per install.
    secrets = {obj["metadata"]["name"]: obj for obj in of_kind(objects, "Secret")}
    assert set(secrets) == {"camfleet-tls", "camfleet-gateway-credentials"}
    credentials = secrets["camfleet-gateway-credentials"]["data"]
    assert len(base64.b64decode(credentials["mediamtx.token"])) == 43
    assert credentials["mediamtx.departments"] == "", "the default gateway speaks for no department"
    assert "--gateway-credentials-secret=camfleet-gateway-credentials" in args

    # One certificate, generated once per render: the webhooks trust exactly the CA in the Secret.
    secret = secrets["camfleet-tls"]
    ca = secret["data"]["ca.crt"]
    # Side effects as each handler declares them: the webhooks are pure, except note-grant-change, which writes an
    # audit record of who changed a grant (R16) and skips it on a dry run (NoneOnDryRun: dry runs may still call it).
    side_effects: dict[str, str] = {}
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for webhook in one_of_kind(objects, kind)["webhooks"]:
            assert webhook["clientConfig"]["caBundle"] == ca
            assert webhook["failurePolicy"] == "Fail"
            side_effects[webhook["name"].split(".")[0]] = webhook["sideEffects"]
    assert side_effects.pop("note-grant-change") == "NoneOnDryRun"
    assert set(side_effects.values()) == {"None"}, side_effects

    dashboard = one_of_kind(objects, "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["camfleet-fleet.json"])["panels"]


def test_full_values_render_monitoring_cert_manager_and_network_policy(chart: Chart) -> None:
    objects = chart.template("camfleet", "camfleet-system", [FULL_VALUES])
    kinds = {obj["kind"] for obj in objects}
    assert kinds >= {"ServiceMonitor", "PodMonitor", "PrometheusRule", "Certificate", "Issuer", "NetworkPolicy"}
    # cert-manager writes the serving Secret; the chart writes only the gateway credentials.
    secrets = of_kind(objects, "Secret")
    assert [secret["metadata"]["name"] for secret in secrets] == ["camfleet-gateway-credentials"]
    gateways = secrets[0]["data"]
    assert base64.b64decode(gateways["transport-wall.departments"]) == b"transport"
    assert gateways["mediamtx.token"] != gateways["transport-wall.token"]

    alerts = {
        rule["alert"]: rule
        for group in one_of_kind(objects, "PrometheusRule")["spec"]["groups"]
        for rule in group["rules"]
    }
    assert alerts.keys() >= REQUIRED_ALERTS
    for name, rule in alerts.items():
        assert rule["annotations"]["runbook_url"].endswith(f"#{name.lower()}"), name
        assert rule["labels"]["severity"] in ("warning", "critical")
    assert "< 0.95" in alerts["CamfleetDepartmentOnlineRateLow"]["expr"]
    # Issue 21: the loop lag per pod (a standby replica's idle loop must not average the busy one away), sustained.
    lag = alerts["CamfleetEventLoopLagHigh"]
    assert "rate(camfleet_event_loop_lag_seconds_bucket[5m])" in lag["expr"]
    assert "by (namespace, pod, le)" in lag["expr"]
    assert lag["expr"].rstrip().endswith("> 0.1")
    assert lag["for"] == "10m"

    certificate = next(c for c in of_kind(objects, "Certificate") if not c["spec"].get("isCA"))
    assert "camfleet-webhook.camfleet-system.svc" in certificate["spec"]["dnsNames"]
    assert "camfleet-decision.camfleet-system.svc" in certificate["spec"]["dnsNames"]
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        configuration = one_of_kind(objects, kind)
        inject = configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        assert inject == f"camfleet-system/{certificate['metadata']['name']}"
        assert all("caBundle" not in webhook["clientConfig"] for webhook in configuration["webhooks"])

    deployment = one_of_kind(objects, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.org/camfleet/operator:0.1.0-rc1"
    assert any(
        arg.startswith("--recorder-image=registry.example.org/camfleet/recorder@sha256:") for arg in container["args"]
    )
    assert "--device-network=10.20.0.0/16" in container["args"]

    policy = one_of_kind(objects, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert one_of_kind(objects, "ConfigMap")["metadata"]["namespace"] == "monitoring"


def exported_metric_names() -> set[str]:
    """Every metric the operator (default registry) and a recorder (its own registry) export, with suffixes."""
    from prometheus_client import REGISTRY, generate_latest

    import camfleet.gateway.metrics
    import camfleet.observability.metrics  # noqa: F401 - registers the operator's metrics
    from camfleet.recorder_pod.metrics import RecorderMetrics

    text = generate_latest(REGISTRY).decode() + generate_latest(RecorderMetrics().registry).decode()
    names = set(re.findall(r"^# TYPE (camfleet_\w+) (\w+)", text, re.MULTILINE))
    # A counter's TYPE line already names its _total series; a histogram's names the family.
    suffixes = {"histogram": ["_bucket", "_count", "_sum"]}
    return {name + suffix for name, kind in names for suffix in suffixes.get(kind, [""])}


def test_alerts_and_dashboard_use_only_exported_metrics(chart: Chart) -> None:
    objects = chart.template("camfleet", "camfleet-system", [FULL_VALUES])
    exprs = [
        rule["expr"] for group in one_of_kind(objects, "PrometheusRule")["spec"]["groups"] for rule in group["rules"]
    ]
    dashboard = json.loads(one_of_kind(objects, "ConfigMap")["data"]["camfleet-fleet.json"])
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\bcamfleet_\w+", expr)}
    assert used - exported_metric_names() == set()


RETENTION_POLICY_TEMPLATE = "templates/retention-policy.yaml"


def test_retention_label_policy_renders_by_default_and_can_be_disabled(chart: Chart) -> None:
    """Issue 15, attack 1: the API server itself keeps a retention volume's label (R3), also with the operator down."""
    objects = chart.template("camfleet", "camfleet-system")
    policies = {o["metadata"]["name"]: o for o in of_kind(objects, "ValidatingAdmissionPolicy")}
    bindings = {o["spec"]["policyName"]: o for o in of_kind(objects, "ValidatingAdmissionPolicyBinding")}
    assert set(policies) == set(bindings) == {"camfleet-retention-volume-label", "camfleet-chain-checkpoint-label"}
    checkpoint = policies["camfleet-chain-checkpoint-label"]["spec"]
    assert checkpoint["matchConstraints"]["resourceRules"][0]["resources"] == ["configmaps"]
    assert "rule R3" in checkpoint["validations"][0]["message"]
    policy, binding = policies["camfleet-retention-volume-label"], bindings["camfleet-retention-volume-label"]
    for obj in (policy, binding):
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "camfleet"
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "camfleet"
    assert binding["spec"]["validationActions"] == ["Deny"]
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["resourceRules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["persistentvolumeclaims"]}
    ]
    assert all("oldObject" in condition["expression"] for condition in spec["matchConditions"])
    assert "rule R3" in spec["validations"][0]["message"]

    disabled = chart.template(
        "camfleet", "camfleet-system", set_values=["retentionGuard.admissionPolicy.enabled=false"]
    )
    assert not of_kind(disabled, "ValidatingAdmissionPolicy")
    assert not of_kind(disabled, "ValidatingAdmissionPolicyBinding")
    # The documented way to apply it alone renders exactly these objects (retention volumes, chain checkpoints).
    alone = [
        doc
        for doc in yaml.safe_load_all(
            chart.run("template", "camfleet", str(chart.directory), "-s", RETENTION_POLICY_TEMPLATE)
        )
        if doc
    ]
    assert (
        sorted(obj["kind"] for obj in alone)
        == ["ValidatingAdmissionPolicy"] * 2 + ["ValidatingAdmissionPolicyBinding"] * 2
    )


@pytest.mark.parametrize(
    "assignment",
    ["replicaCount=0", "operator.retentionFloorDays=29", "webhook.failurePolicy=Sometimes", "unknownKey=1",
     "networkPolicy.enabled=true,networkPolicy.egress.enabled=true"],
)  # fmt: skip
def test_values_schema_refuses_bad_values(chart: Chart, assignment: str) -> None:
    with pytest.raises(HelmFailed, match=r"values don't meet the specifications of the schema|required"):
        chart.template("camfleet", "camfleet-system", set_values=[assignment])


METRICS_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def test_metrics_can_be_turned_off(chart: Chart) -> None:
    """Issue 18, finding 4: `metrics.enabled: false` passes the schema and removes every metrics object, also with
    the monitoring switched on otherwise; the probes keep their port."""
    objects = chart.template("camfleet", "camfleet-system", [FULL_VALUES], set_values=["metrics.enabled=false"])
    assert not {obj["kind"] for obj in objects} & METRICS_KINDS
    assert [svc["metadata"]["name"] for svc in of_kind(objects, "Service")] == ["camfleet-webhook", "camfleet-decision"]
    assert not of_kind(objects, "ConfigMap"), "the dashboard reads the metrics"
    container = one_of_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["port"] == "http"
    assert "http" in {port["name"] for port in container["ports"]}
    on = chart.template("camfleet", "camfleet-system", [FULL_VALUES])
    assert {obj["kind"] for obj in on} >= METRICS_KINDS
    assert "camfleet-metrics" in {svc["metadata"]["name"] for svc in of_kind(on, "Service")}


REFUSED_VALUES = {
    "no-peering-2-replicas": (["peering.create=false"], "peering.create=false with replicaCount=2: replicas elect"),
    "no-peering-3-replicas": (["peering.create=false", "replicaCount=3"], "peering.create=false with replicaCount=3"),
    "extra-workers": (["operator.extraArgs={--workers=8}"], '"--workers=8" repeats --workers, which the chart'),
    "extra-flag-apart": (["operator.extraArgs={--onvif-timeout,fifteen}"], '"--onvif-timeout" repeats --onvif-timeout'),
    "extra-namespace": (
        ["operator.watchNamespaces={a}", "operator.extraArgs={--namespace=b}"],
        '"--namespace=b" repeats --namespace',
    ),
}


@pytest.mark.parametrize("case", list(REFUSED_VALUES))
def test_rendering_refuses_values_that_would_break_the_operator(chart: Chart, case: str) -> None:
    """Issue 18, finding 4: replicas without a peering object would all pause; a repeated flag would silently
    override (or, repeatable, add to) what the values say. Rendering (helm template, install, Argo CD) fails with
    why; `helm lint` (which by Helm's design reports a template's `fail` as [INFO], not as an error) shows it."""
    assignments, message = REFUSED_VALUES[case]
    with pytest.raises(HelmFailed, match=re.escape(message)):
        chart.template("camfleet", "camfleet-system", set_values=assignments)
    sets = [arg for assignment in assignments for arg in ("--set", assignment)]
    linted = subprocess.run(
        [str(chart.helm), "lint", str(chart.directory), *sets], text=True, capture_output=True, timeout=120
    )
    reported = [line for line in (linted.stdout + linted.stderr).splitlines() if "Fail: " in line]
    assert any(message in line for line in reported), linted.stdout + linted.stderr


def test_one_replica_without_peering_runs_standalone_and_new_flags_pass(chart: Chart) -> None:
    objects = chart.template(
        "camfleet", "camfleet-system",
        set_values=["peering.create=false", "replicaCount=1", "operator.extraArgs={--chain-checkpoint-seconds=30}"],
    )  # fmt: skip
    assert not of_kind(objects, "ClusterKopfPeering")
    args = one_of_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--standalone" in args
    assert args[-1] == "--chain-checkpoint-seconds=30"


NAMESPACED_ONLY = {"secrets", "persistentvolumeclaims", "deployments", "jobs", "cameras"}


def test_watch_namespaces_switch_rbac_to_namespaced_and_peer_through_the_release_cluster_peering(
    chart: Chart,
) -> None:
    """Issue 18, finding 4: no KopfPeering in the department namespaces (a namespace-restricted Argo CD project
    refuses objects outside its namespaces); the replicas peer through one ClusterKopfPeering of the release."""
    objects = chart.template("camfleet", "camfleet-system", set_values=["operator.watchNamespaces={transport,parks}"])
    assert not of_kind(objects, "KopfPeering")
    assert one_of_kind(objects, "ClusterKopfPeering")["metadata"]["name"] == "camfleet"  # the release's fullname
    args = one_of_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--cluster-peering=camfleet" in args
    assert "--standalone" not in args
    rules = operator_cluster_role(objects)["rules"]
    cluster_wide = {resource for rule in rules for resource in rule["resources"]}
    assert "namespaces" in cluster_wide
    assert "clusterkopfpeerings" in cluster_wide
    assert not cluster_wide & NAMESPACED_ONLY, "namespaced rights granted cluster-wide"
    # Shards: each release has its own peering object, so one shard's active replica never pauses another's.
    shard = chart.template("camfleet-east", "camfleet-east", set_values=["operator.watchNamespaces={east}"])
    assert one_of_kind(shard, "ClusterKopfPeering")["metadata"]["name"] == "camfleet-east"
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in of_kind(objects, "Role")}
    bindings = {(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in of_kind(objects, "RoleBinding")}
    for watched in ("transport", "parks"):
        role = roles[(watched, "camfleet")]
        assert {resource for rule in role["rules"] for resource in rule["resources"]} >= NAMESPACED_ONLY
        assert "kopfpeerings" not in {resource for rule in role["rules"] for resource in rule["resources"]}
        assert (watched, "camfleet") in bindings
    # The release namespace gets only the signing-keys Secret (get, create) and the incident ledger ConfigMap (get,
    # create, patch with its resourceVersion) besides its own pod's label.
    release = roles[("camfleet-system", "camfleet-pod-role")]
    assert {rule["resources"][0]: rule["verbs"] for rule in release["rules"]} == {
        "secrets": ["get", "create"],
        "configmaps": ["get", "create", "patch"],
        "pods": ["patch"],
    }


def test_cluster_wide_rbac_trims_verbs_to_the_calls(chart: Chart) -> None:
    rules = operator_cluster_role(chart.template("camfleet", "camfleet-system"))["rules"]
    verbs = {resource: rule["verbs"] for rule in rules for resource in rule["resources"]}
    assert verbs["secrets"] == ["get", "create", "patch", "delete"]  # never list/watch: that reads every Secret
    # Garbage collection removes an export's Jobs, but an extraction's Job in the owner's namespace (no
    # ownerReference across namespaces) is deleted by the operator after the handover.
    assert verbs["jobs"] == ["get", "list", "watch", "create", "patch", "delete"]
    assert verbs["persistentvolumes"] == ["get", "patch"]  # handover: Retain and claimRef, never create/delete
    assert verbs["storageclasses"] == ["get", "list"]
    assert verbs["customresourcedefinitions"] == ["get", "list", "watch"]


def test_rbac_has_no_wildcards(chart: Chart) -> None:
    for values in ([], [FULL_VALUES]):
        for rule in operator_cluster_role(chart.template("camfleet", "camfleet-system", values))["rules"]:
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], rule
            assert "resourceNames" not in rule
            assert "nonResourceURLs" not in rule


def test_the_operator_verifies_people_through_the_standard_delegated_authentication_roles(chart: Chart) -> None:
    """Issue 19, Deliver 5: the PTZ API reads the cluster's client CA and reviews people's tokens as an aggregated
    API server does, through bindings to the roles every cluster has (no copies of them), one pair per release."""
    for release, values in (("camfleet", []), ("camfleet-east", ["operator.watchNamespaces={east}"])):
        objects = chart.template(release, release, set_values=values)
        reader = next(b for b in of_kind(objects, "RoleBinding") if b["metadata"]["namespace"] == "kube-system")
        assert reader["metadata"]["name"] == f"{release}-authentication-reader"
        assert reader["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "extension-apiserver-authentication-reader",
        }
        delegator = next(
            b for b in of_kind(objects, "ClusterRoleBinding") if b["roleRef"]["name"] == "system:auth-delegator"
        )
        assert delegator["metadata"]["name"] == f"{release}-auth-delegator"
        for binding in (reader, delegator):
            assert binding["subjects"] == [{"kind": "ServiceAccount", "name": release, "namespace": release}]


def test_chart_crds_are_the_repository_crds() -> None:
    assert differences(REPO / "crds", REPO / "charts" / "camfleet" / "crds") == []


def test_chart_webhooks_are_the_operators_admission_handlers(chart: Chart) -> None:
    """kopf routes POST /<handler id>; a path it does not know runs no handler and silently admits."""
    generated = REPO / "charts" / "camfleet" / "files" / "admission-webhooks.yaml"
    assert generated.read_text() == chart_webhooks.render(), "run python -m camfleet.devcluster.chart_webhooks write"
    expected = yaml.safe_load(generated.read_text())
    objects = chart.template("camfleet", "camfleet-system")
    for kind, key in (("MutatingWebhookConfiguration", "mutating"), ("ValidatingWebhookConfiguration", "validating")):
        rendered = one_of_kind(objects, kind)["webhooks"]
        assert [(w["name"], w["clientConfig"]["service"]["path"], w["rules"]) for w in rendered] == [
            (w["name"], w["path"], w["rules"]) for w in expected[key]
        ]


# --- on the real API server --------------------------------------------------------------------------------


def apply_server_side(cluster: LocalCluster, objects: list[dict[str, Any]], *extra: str) -> str:
    done = cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=helm-chart-test", *extra, "-f", "-",
        input=yaml.safe_dump_all(objects), check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"kubectl apply refused the chart:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def apply_chart_crds(cluster: LocalCluster, chart: Chart) -> None:
    for path in chart.crd_files():
        cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", "--field-manager=helm-chart-test", "-f", str(path)
        )
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def cluster_scoped(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [obj for obj in objects if "namespace" not in obj["metadata"]]


def delete_objects(cluster: LocalCluster, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        cluster.kubectl(
            "delete", obj["kind"], obj["metadata"]["name"], "--ignore-not-found", "--wait=false", check=False
        )


@pytest.fixture
def rendered_default(chart: Chart, cluster: LocalCluster, namespace: str) -> Iterator[list[dict[str, Any]]]:
    """The default chart rendered for a release in the test namespace; its cluster-scoped objects go afterwards
    (a webhook configuration whose operator is gone would refuse every GrantApproval in the cluster)."""
    apply_chart_crds(cluster, chart)
    objects = chart.template(release_for(namespace), namespace)
    yield objects
    delete_objects(cluster, cluster_scoped(objects))


def test_rendered_default_chart_applies_and_its_pods_pass_restricted_pod_security(
    cluster: LocalCluster, namespace: str, rendered_default: list[dict[str, Any]]
) -> None:
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted", "--overwrite")
    careless = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "careless", "namespace": namespace},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}  # fmt: skip
    refused = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(careless), check=False)
    assert "violates PodSecurity" in refused.stderr, (
        "the API server must enforce Pod Security for this test to mean much"
    )
    out = apply_server_side(cluster, rendered_default)
    assert out.count("serverside-applied") == len(rendered_default), out
    deployment = one_of_kind(rendered_default, "Deployment")["metadata"]["name"]
    # kwok runs no containers, but the ReplicaSet's pods must be admitted under `restricted` and scheduled.
    cluster.kubectl("rollout", "status", f"deployment/{deployment}", "-n", namespace, "--timeout=90s")
    pods = get_json(cluster, "pods", "-n", namespace, "-l", "app.kubernetes.io/component=operator")["items"]
    assert len(pods) == 2
    assert all(p["status"]["phase"] == "Running" for p in pods)
    peering = get_json(cluster, "clusterkopfpeering", "camfleet")
    assert peering["metadata"]["name"] == "camfleet"


RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"
# Values sets rendered and dry-run on the API server (issue 18, deliverable 4). The watched namespaces and the
# department namespace are made by the test; "{ns}" is the test's namespace (the release namespace).
DRY_RUN_VALUES = {
    "defaults": [],
    "metrics-off": ["metrics.enabled=false"],
    "cert-manager": ["certManager.enabled=true"],
    "several-replicas": ["replicaCount=4"],
    "watched-namespaces": ["operator.watchNamespaces={{{ns}-east,{ns}-west}}"],
    "departments": ["departments[0].namespace={ns}-east", "departments[0].approverGroups={{east:approvers}}",
                    "departments[0].viewerGroups={{east:staff}}"],
    "full": ["__full__"],
}  # fmt: skip


@pytest.mark.parametrize("values_set", list(DRY_RUN_VALUES))
def test_values_sets_pass_server_side_dry_run_in_a_restricted_release_namespace(
    chart: Chart, cluster: LocalCluster, namespace: str, values_set: str
) -> None:
    """`helm template` plus `kubectl apply --server-side --dry-run=server` on the real API server (CRDs installed,
    release namespace under the `restricted` Pod Security Standard, which warns about a Deployment whose pods it
    would refuse). cert-manager's and the prometheus-operator's kinds are rendered but not sent: their CRDs are not
    installed here (the same objects are checked by helm lint and the rendering tests)."""
    apply_chart_crds(cluster, chart)
    cluster.kubectl("label", "namespace", namespace, RESTRICTED, "pod-security.kubernetes.io/warn=restricted")
    for extra in (f"{namespace}-east", f"{namespace}-west"):
        cluster.kubectl("create", "namespace", extra, check=False)
    if "__full__" in DRY_RUN_VALUES[values_set]:
        cluster.kubectl("create", "namespace", "monitoring", check=False)  # the full values' dashboard goes there
    assignments = [a.format(ns=namespace) for a in DRY_RUN_VALUES[values_set] if a != "__full__"]
    files = [FULL_VALUES] if "__full__" in DRY_RUN_VALUES[values_set] else []
    objects = chart.template(release_for(namespace), namespace, files, set_values=assignments)
    sendable = [obj for obj in objects if not needs_optional_crds(obj)]
    try:
        done = cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", "--dry-run=server", "--field-manager=helm-chart-test",
            "-f", "-",
            input=yaml.safe_dump_all(sendable), check=False,
        )  # fmt: skip
    finally:
        for extra in (f"{namespace}-east", f"{namespace}-west"):
            cluster.kubectl("delete", "namespace", extra, "--wait=false", check=False)
    assert done.returncode == 0, f"the API server refused the {values_set} chart:\n{done.stdout}\n{done.stderr}"
    assert done.stdout.count("serverside-applied (server dry run)") == len(sendable), done.stdout
    assert "PodSecurity" not in done.stderr, done.stderr
    # Nothing namespaced lands outside the release namespace but the RBAC the values ask for (the operator's
    # Roles in watched namespaces, the department RoleBindings): no KopfPeering, no workload, no Secret.
    outside = {
        obj["kind"]
        for obj in objects
        if obj["metadata"].get("namespace", namespace) not in (namespace, "monitoring")  # grafanaDashboard.namespace
    }
    assert outside <= {"Role", "RoleBinding"}, outside
    if values_set == "several-replicas":
        assert one_of_kind(objects, "Deployment")["spec"]["replicas"] == 4
        assert one_of_kind(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_helm_upgrade_keeps_the_generated_certificate(chart: Chart, cluster: LocalCluster, namespace: str) -> None:
    """`lookup` reads the installed Secret back, so an upgrade neither rotates the certificate nor breaks the
    webhooks' caBundle."""
    release = release_for(namespace)
    # One replica without a peering object (runs --standalone); the user roles are cluster-wide and may already
    # exist from another test's release.
    helm_args = ["--namespace", namespace, "--kubeconfig", str(cluster.kubeconfig), "--set",
                 "peering.create=false,replicaCount=1,userRoles.create=false"]  # fmt: skip

    def installed() -> tuple[dict[str, str], set[str], dict[str, str]]:
        secret = get_json(cluster, "secret", f"{release}-tls", "-n", namespace)["data"]
        bundles = {
            webhook["clientConfig"]["caBundle"]
            for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration")
            for webhook in get_json(cluster, kind, release)["webhooks"]
        }
        gateways = get_json(cluster, "secret", f"{release}-gateway-credentials", "-n", namespace)["data"]
        return secret, bundles, gateways

    notes = chart.run("install", release, str(chart.directory), *helm_args)
    try:
        assert f"{release}-webhook.{namespace}.svc:443" in notes
        assert f"https://{release}-decision.{namespace}.svc:8443/v1/mediamtx/auth" in notes
        assert f"{release}-gateway-credentials" in notes
        first, bundles, gateways = installed()
        assert bundles == {first["ca.crt"]}
        # A gateway credential added by the CLI survives upgrades as the chart's own does (no rotation).
        added = {"data": {"vms.token": base64.b64encode(b"v" * 43).decode()}}
        cluster.kubectl("patch", "secret", f"{release}-gateway-credentials", "-n", namespace, "--type=merge",
                        "-p", json.dumps(added))  # fmt: skip
        chart.run("upgrade", release, str(chart.directory), *helm_args, "--set", "operator.workers=16")
        assert installed() == (first, bundles, {**gateways, **added["data"]})
    finally:
        chart.run("uninstall", release, "--namespace", namespace, "--kubeconfig", str(cluster.kubeconfig))


# --- the operator with exactly the chart's RBAC --------------------------------------------------------------


class ChartRbacOperator(OperatorProcess):
    """The real operator process as the chart runs it: without --install-crds (the chart installs the CRDs, and
    its RBAC may only read them). The flag is dropped from the command OperatorProcess builds; remove this class
    once OperatorProcess takes `install_crds=False`."""

    def start(self, timeout: float = 60) -> None:
        popen = subprocess.Popen

        def without_install_crds(command: list[str], *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
            return popen([part for part in command if part != "--install-crds"], *args, **kwargs)

        with mock.patch.object(subprocess, "Popen", without_install_crds):
            super().start(timeout)


def chart_peering_args(objects: list[dict[str, Any]]) -> list[str]:
    """The peering flags the chart's Deployment passes (with watchNamespaces: the release's ClusterKopfPeering)."""
    args = one_of_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    return [arg for arg in args if arg.startswith("--cluster-peering")]


def webhooks_pointing_at(objects: list[dict[str, Any]], port: int, ca_pem: bytes) -> list[dict[str, Any]]:
    """The chart's webhook configurations, unchanged but for clientConfig: the local operator instead of the
    Service, with the same path."""
    configurations = []
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        configuration = json.loads(json.dumps(one_of_kind(objects, kind)))
        for webhook in configuration["webhooks"]:
            path = webhook["clientConfig"]["service"]["path"]
            webhook["clientConfig"] = {
                "url": f"https://127.0.0.1:{port}{path}",
                "caBundle": base64.b64encode(ca_pem).decode(),
            }
        configurations.append(configuration)
    return configurations


def storage_for(cluster: LocalCluster, namespace: str, camera: str) -> None:
    """An encrypted storage class and a static volume for the camera's retention claim (kwok has no provisioner)."""
    storage_class = example_fleet.encrypted_storage_class(STORAGE_CLASS)
    volume = example_fleet.static_volume(namespace, f"{camera}-recordings", STORAGE_CLASS)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([storage_class, volume]))


def recording_policy(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "RecordingPolicy",
        "metadata": {"name": "thirty-days", "namespace": namespace},
        "spec": {
            "cameraSelector": {"matchLabels": {"recorded": "yes"}},
            "retentionDays": 30,
            "segmentSeconds": 60,
            "storage": {"storageClassName": STORAGE_CLASS, "headroomPercent": 20},
            "transcodeProfiles": [
                {"name": "low", "resolution": {"width": 640, "height": 360}, "fps": 10, "bitrateKbps": 512}
            ],
        },
    }


def sharing_grant(grantee: str, owner: str, camera: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "SharingGrant",
        "metadata": {"name": "junction-study", "namespace": grantee},
        "spec": {
            "cameras": {"namespace": owner, "names": [camera]},
            "shareClass": "Conditional",
            "permissions": ["LiveView", "Playback"],
            "period": {
                "start": (now - timedelta(minutes=1)).isoformat(timespec="seconds"),
                "end": (now + timedelta(days=7)).isoformat(timespec="seconds"),
            },
            "purpose": "Count turning vehicles for a signal timing study",
            "application": {
                "applicantDepartment": "Traffic Planning Division",
                "contact": "Wang Lei, +86 532 8000 1234",
                "reason": "Turning flows exceed the capacity of the left-turn lane",
                "dataType": "Live video and recordings",
                "dataContent": "The junction, weekdays 07:00-09:00, one week",
                "scopeOfUse": "Traffic Planning Division staff only",
                "securityMeasures": "Viewed on bureau workstations only; counts kept, video discarded",
            },
        },
    }


def footage_export(owner: str, camera: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "FootageExport",
        "metadata": {"name": "incident-0421", "namespace": owner},
        "spec": {
            "cameras": [camera],
            "ranges": [
                {
                    "start": (now - timedelta(hours=1)).isoformat(timespec="seconds"),
                    "end": (now - timedelta(minutes=5)).isoformat(timespec="seconds"),
                }
            ],
            "purpose": "Evidence for a collision at the junction",
            "caseReference": "QD-JJ-0421-03",
            "maskPrivacy": True,
            "storageClassName": STORAGE_CLASS,
        },
    }


def approval_of(owner: str, kind: str, target_namespace: str | None, target: str, name: str) -> dict[str, Any]:
    """An approval in the owner's namespace; a FootageExport's is in its own namespace (no target namespace)."""
    where = {"namespace": target_namespace} if target_namespace else {}
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "GrantApproval",
        "metadata": {"name": name, "namespace": owner},
        "spec": {
            "target": {"kind": kind, **where, "name": target},
            "verdict": "Approve",
            "documentReference": f"QD-GA-{name}",
            "reason": "Needed for the case",
        },
    }


def create_as(cluster: LocalCluster, user: str, obj: dict[str, Any]) -> None:
    """Create `obj` as `user` (impersonation), the way a person in the city's directory would."""
    done = cluster.kubectl(
        "create", "--as", user, "--as-group", "city:approvers", "-f", "-", input=as_yaml([obj]), check=False
    )
    assert done.returncode == 0, f"{user} could not create {obj['kind']} {obj['metadata']['name']}: {done.stderr}"


@pytest.fixture
def grantee_namespace(cluster: LocalCluster) -> Iterator[str]:
    name = f"g-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(params=["cluster-wide", "watch-namespaces"])
def watched(request: pytest.FixtureRequest, namespace: str, grantee_namespace: str) -> tuple[str, ...]:
    """The namespaces the chart is told to watch (operator.watchNamespaces); empty: cluster-wide."""
    return (namespace, grantee_namespace) if request.param == "watch-namespaces" else ()


@pytest.fixture
def rendered_scenario(
    chart: Chart, cluster: LocalCluster, namespace: str, watched: tuple[str, ...]
) -> Iterator[list[dict[str, Any]]]:
    """The chart as the scenario installs it: default values, or with watchNamespaces set to owner + grantee; the
    owner department's approvers (group city:approvers) hold the chart's department approver role."""
    apply_chart_crds(cluster, chart)
    set_values = [f"departments[0].namespace={namespace}", "departments[0].approverGroups={city:approvers}"]
    set_values += [f"operator.watchNamespaces={{{','.join(watched)}}}"] if watched else []
    objects = chart.template(release_for(namespace), namespace, set_values=set_values)
    yield objects
    delete_objects(cluster, cluster_scoped(objects))


@pytest.fixture
def operator_as_chart_service_account(
    cluster: LocalCluster,
    namespace: str,
    rendered_scenario: list[dict[str, Any]],
    watched: tuple[str, ...],
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """The chart's ServiceAccount, RBAC, peering and webhook configurations; the operator runs with a token of
    that ServiceAccount and nothing else (and, with watchNamespaces, the chart's --namespace flags).

    It must be the only camfleet on the cluster: the session's operator (cluster-wide, standalone, its own managed
    webhooks and stamp key) would re-stamp the approvals and record them as not counting, fight over the grant's
    status and its token Secret, and answer the webhooks this scenario is to prove reach this process."""
    require_no_session_operator("the chart-RBAC scenario")
    rendered_default = rendered_scenario
    in_cluster_only = {"Deployment", "PodDisruptionBudget", "MutatingWebhookConfiguration",
                       "ValidatingWebhookConfiguration"}  # fmt: skip
    apply_server_side(cluster, [obj for obj in rendered_default if obj["kind"] not in in_cluster_only])

    service_account = one_of_kind(rendered_default, "ServiceAccount")["metadata"]["name"]
    token = cluster.kubectl("create", "token", service_account, "-n", namespace, "--duration=1h").stdout.strip()
    kubeconfig = token_kubeconfig(cluster.kubeconfig, token, tmp_path / "chart-sa.kubeconfig", service_account)
    whoami = json.loads(cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json").stdout)
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:{service_account}"

    certificate = make_webhook_certificate(tmp_path / "webhook-tls", ["127.0.0.1"])
    (tmp_path / "webhook-tls" / "ca.crt").write_bytes(certificate.ca_pem)
    flags = [flag for flag in OPERATOR_TEST_FLAGS if flag != "--standalone"]  # HA mode, through the chart's peering
    # The pod the operator would run in (kwok runs it): the replica labels it with its role, as in the chart.
    own_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": OPERATOR_POD, "namespace": namespace},
               "spec": {"containers": [{"name": "operator", "image": "camfleet-operator"}]}}  # fmt: skip
    apply_server_side(cluster, [own_pod])
    scope = "watch-namespaces" if watched else "cluster-wide"  # one log per parametrisation
    process = ChartRbacOperator(
        kubeconfig=kubeconfig,
        log_path=ARTIFACTS / f"operator-chart-rbac-{scope}-{os.getpid()}.log",
        extra_args=(
            *flags,
            "--priority=100",
            f"--operator-namespace={namespace}",  # the chart passes the release namespace
            "--webhook-external-configuration",
            "--webhook-host=127.0.0.1",
            f"--webhook-cert-dir={tmp_path / 'webhook-tls'}",
            f"--pod={namespace}/{OPERATOR_POD}",
            *(f"--namespace={watched_namespace}" for watched_namespace in watched),
            *chart_peering_args(rendered_default),
        ),
    )
    process.log_path.unlink(missing_ok=True)
    process.start()
    apply_server_side(cluster, webhooks_pointing_at(rendered_default, process.webhook_port, certificate.ca_pem))
    try:
        yield process
    finally:
        delete_objects(cluster, of_kind(rendered_default, "ValidatingWebhookConfiguration"))
        delete_objects(cluster, of_kind(rendered_default, "MutatingWebhookConfiguration"))
        process.stop()


def can_i(cluster: LocalCluster, user: str, verb: str, resource: str, namespace: str) -> bool:
    done = cluster.kubectl("auth", "can-i", verb, resource, "-n", namespace, f"--as={user}", check=False)
    return done.stdout.strip() == "yes"


def assert_reach_only_watched(cluster: LocalCluster, user: str, watched: tuple[str, ...]) -> None:
    """The ServiceAccount may work with Secrets, volumes and workloads in the watched namespaces, nowhere else."""
    outside = f"o-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", outside)
    try:
        for verb, resource in (("get", "secrets"), ("create", "secrets"), ("delete", "secrets"),
                               ("list", "secrets"), ("patch", "deployments"), ("delete", "persistentvolumeclaims"),
                               ("create", "jobs")):  # fmt: skip
            assert not can_i(cluster, user, verb, resource, outside), f"{verb} {resource} outside the watched"
            assert not can_i(cluster, user, verb, resource, "default"), f"{verb} {resource} in default"
        for watched_namespace in watched:
            assert can_i(cluster, user, "get", "secrets", watched_namespace)
            assert can_i(cluster, user, "patch", "deployments", watched_namespace)
            assert not can_i(cluster, user, "list", "secrets", watched_namespace)  # reads by name only
    finally:
        cluster.kubectl("delete", "namespace", outside, "--wait=false", check=False)


def ready_in_metrics(operator: OperatorProcess, namespace: str, name: str) -> bool:
    """The operator's OWN gauge: this process reconciled the camera to Ready (not another operator)."""
    wanted = f'camfleet_ready{{kind="Camera",name="{name}",namespace="{namespace}"}} 1.0'
    return wanted in operator.get("/metrics")


def test_operator_with_exactly_the_chart_rbac_runs_a_camera_and_grant_scenario(
    cluster: LocalCluster,
    sim: SimProcess,
    sim_camera: str,
    namespace: str,
    grantee_namespace: str,
    rendered_scenario: list[dict[str, Any]],
    watched: tuple[str, ...],
    operator_as_chart_service_account: OperatorProcess,
) -> None:
    """Run twice: with the default (cluster-wide) RBAC, and with watchNamespaces = owner + grantee, where the
    ServiceAccount holds Roles only in those namespaces and cannot even read a Secret anywhere else."""
    operator = operator_as_chart_service_account
    rendered_default = rendered_scenario
    owner, camera = namespace, "junction"
    if watched:
        service_account = one_of_kind(rendered_default, "ServiceAccount")["metadata"]["name"]
        assert_reach_only_watched(cluster, f"system:serviceaccount:{namespace}:{service_account}", watched)

    # HA through the chart's one peering object (also when watching namespaces): the replica keeps its record
    # in the release's ClusterKopfPeering and none is made in a department namespace.
    peering = one_of_kind(rendered_default, "ClusterKopfPeering")["metadata"]["name"]
    wait_for(
        lambda: get_json(cluster, "clusterkopfpeering", peering).get("status"),
        what="the replica's keep-alive in the chart's ClusterKopfPeering",
    )
    for department in (namespace, grantee_namespace):
        assert get_json(cluster, "kopfpeerings", "-n", department)["items"] == []

    # The only replica labels its own pod active, which puts it behind the chart's decision Service.
    decision_service = next(o for o in of_kind(rendered_default, "Service") if "decision" in o["metadata"]["name"])
    wait_for(
        lambda: (
            get_json(cluster, "pod", OPERATOR_POD, "-n", namespace)["metadata"].get("labels", {}).get(ROLE_LABEL)
            == decision_service["spec"]["selector"][ROLE_LABEL]
        ),
        what="the operator's pod labelled as the decision Service selects",
    )

    # Cameras and recording: Secret read, status patches, Events, storage class, volume, recorder, transcoder.
    storage_for(cluster, owner, camera)
    cluster.kubectl("apply", "-f", "-", input=as_yaml([recording_policy(owner)]))
    objects = camera_with_secret(owner, camera, sim, sim_camera)
    objects[1]["metadata"]["labels"] = {"recorded": "yes"}
    cluster.kubectl("apply", "-f", "-", input=as_yaml(objects))
    wait_ready(cluster, owner, camera, timeout=90)
    wait_for(lambda: ready_in_metrics(operator, owner, camera), what="Ready in the operator's own metrics")
    # The camera alerts' input (compliance.md, R5 and the online rate) is exported by this operator, per camera.
    metrics = operator.get("/metrics")
    assert f'camfleet_camera_reachable{{name="{camera}",namespace="{owner}"}} 1.0' in metrics
    assert "camfleet_grants_approval_overdue 0.0" in metrics
    wait_for(lambda: get_json(cluster, "pvc", f"{camera}-recordings", "-n", owner), what="the retention volume")
    wait_for(lambda: get_json(cluster, "deployment", f"{camera}-recorder", "-n", owner), what="the recorder")
    wait_for(lambda: get_json(cluster, "deployment", f"{camera}-transcode-low", "-n", owner), what="the transcoder")
    wait_for(
        lambda: (c := condition(get_json(cluster, "recordingpolicy", "thirty-days", "-n", owner), "Ready")) and c,
        what="the policy's status",
    )

    # Sharing: a grant in the grantee department, two approvals by two people of neither department. The
    # chart's webhook configurations must reach kopf's handlers: the approver is stamped from the request.
    cluster.kubectl("apply", "-f", "-", input=as_yaml([sharing_grant(grantee_namespace, owner, camera)]))
    approvers = ["alice@city.example", "bob@city.example"]  # city:approvers, bound by the chart's departments
    wait_for(
        lambda: get_json(cluster, "sharinggrant", "junction-study", "-n", grantee_namespace).get("status"),
        what="the grant's status",
    )
    for user in approvers:
        approval = approval_of(owner, "SharingGrant", grantee_namespace, "junction-study", user.split("@")[0])
        create_as(cluster, user, approval)
        stored = get_json(cluster, "grantapproval", approval["metadata"]["name"], "-n", owner)
        stamped = (stored["metadata"].get("annotations") or {}).get(APPROVER_ANNOTATION, "")
        assert user in stamped, "not stamped: the chart's webhook path did not reach kopf's handler"

    def approved_by_both() -> dict[str, Any] | None:
        grant = get_json(cluster, "sharinggrant", "junction-study", "-n", grantee_namespace)
        return grant if sorted(grant.get("status", {}).get("approvedBy", [])) == approvers else None

    wait_for(approved_by_both, timeout=60, what="the grant approved by both approvers")
    for user in approvers:
        recorded = get_json(cluster, "grantapproval", user.split("@")[0], "-n", owner)
        assert recorded["status"]["approver"]["username"] == user
    # Active: a signed token in the grantee department, with the keys in the operator's own namespace.
    wait_for(
        lambda: get_json(cluster, "secret", "junction-study-access", "-n", grantee_namespace),
        what="the grant's token Secret",
    )
    assert get_json(cluster, "secret", "camfleet-signing-keys", "-n", namespace), (
        "signing keys in the release namespace"
    )
    grant_token = access_token(cluster, grantee_namespace, "junction-study")
    assert grant_token
    # Revocation: deleting the grant takes the token Secret away.
    cluster.kubectl("delete", "sharinggrant", "junction-study", "-n", grantee_namespace)
    wait_for(
        lambda: not get_json(cluster, "secret", "junction-study-access", "-n", grantee_namespace),
        what="the token Secret revoked",
    )

    # Footage export: the requester is stamped by the chart's webhook; two approvals; then a volume and a Job.
    cluster.kubectl("create", "-f", "-", input=as_yaml([footage_export(owner, camera)]))
    export = get_json(cluster, "footageexport", "incident-0421", "-n", owner)
    stamped = (export["metadata"].get("annotations") or {}).get("camfleet.io/requested-by")
    assert stamped, "not stamped: the chart's webhook path did not reach kopf's handler"
    for user in approvers:
        approval = approval_of(owner, "FootageExport", None, "incident-0421", f"export-{user.split('@')[0]}")
        create_as(cluster, user, approval)
    wait_for(lambda: get_json(cluster, "job", "incident-0421-export", "-n", owner), what="the export Job")
    wait_for(lambda: get_json(cluster, "pvc", "incident-0421-export", "-n", owner), what="the export volume")
    wait_for(
        lambda: get_json(cluster, "footageexport", "incident-0421", "-n", owner).get("status"),
        what="the export's status",
    )

    # Decommissioning: finalizer removal, recorder deleted, volume released with its retention hold.
    cluster.kubectl("patch", "camera", camera, "-n", owner, "--type=merge", "-p", '{"spec":{"decommission":true}}')
    cluster.kubectl("delete", "camera", camera, "-n", owner, "--timeout=60s")
    wait_for(
        lambda: not get_json(cluster, "deployment", f"{camera}-recorder", "-n", owner), what="the recorder removed"
    )
    claim = get_json(cluster, "pvc", f"{camera}-recordings", "-n", owner)
    assert "camfleet.io/retain-until" in claim["metadata"]["annotations"]

    # A person steering with the grant's token proves who they are with a bearer token: the operator reviews it
    # (TokenReview, through the chart's binding to system:auth-delegator); the revoked grant gives no control: 403.
    cluster.kubectl("create", "serviceaccount", "wall-desk", "-n", grantee_namespace)
    bearer = cluster.kubectl("create", "token", "wall-desk", "-n", grantee_namespace).stdout.strip()
    status, answer = ptz_direct(
        operator,
        "acquire",
        {"camera": f"{owner}/{camera}", "token": grant_token},
        headers={PERSON_TOKEN_HEADER: bearer},
    )
    assert (status, answer["outcome"]) == (403, "denied"), "reviewed (not 503), then refused: the grant is revoked"
    forbidden = [line for line in operator.logs().splitlines() if FORBIDDEN.search(line)]
    assert not forbidden, "the operator made calls the chart's RBAC refused:\n" + "\n".join(forbidden[:20])
