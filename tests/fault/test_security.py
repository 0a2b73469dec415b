"""Nobody gets in: RBAC keeps approvals to approvers, every endpoint speaks TLS only, the decision endpoint
refuses forged, expired and unsigned tokens, and no Secret value of any fault test shows up where people read.

A grantee approving its own grant and one person approving twice are refused at admission in
tests/integration/test_access.py (test_conditional_grant_needs_two_different_people_of_the_owner).

The leak scan is the module's last test, so that in a full `tests/fault` run it reads what every earlier test
captured: the logs of every operator process, and each namespace's Events and camfleet objects (with status)
kept before the namespace was deleted.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from camfleet.access.tokens import ALGORITHM, SigningKeys
from camfleet.config import OperatorConfig
from camfleet.devcluster.chart import CHART_DIR, Chart
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from tests.fault import fleet
from tests.fault.access import decide, insecure_tls, secret_token
from tests.fault.support import Captured, apply_json
from tests.helpers import DEPARTMENT_GROUP, condition, get_json, wait_for
from tests.integration.manifests import camera_with_secret, credentials_secret

pytestmark = pytest.mark.fault


def approval(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "GrantApproval",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"target": {"kind": "SharingGrant", "namespace": "elsewhere", "name": "study"}, "verdict": "Approve"},
    }


def create_as(cluster: LocalCluster, user: str, groups: list[str], manifest: dict[str, Any]) -> Any:
    return cluster.kubectl(
        "create", "-f", "-", f"--as={user}", *[f"--as-group={group}" for group in groups],
        "--as-group=system:authenticated", input=json.dumps(manifest), check=False,
    )  # fmt: skip


def test_only_users_with_the_approver_role_can_create_a_grant_approval(
    cluster: LocalCluster, crds_installed: None, namespace: str
) -> None:
    """The approver role is the chart's own (camfleet-department-approver), bound to the department's group by the
    chart's `departments` value, exactly as docs/install.md tells an installation to do."""
    rendered = Chart().run(
        "template", "camfleet", str(CHART_DIR), "-s", "templates/user-roles.yaml",
        "--set", f"departments[0].namespace={namespace}",
        "--set", f"departments[0].approverGroups={{{DEPARTMENT_GROUP}{namespace}}}",
    )  # fmt: skip
    roles = [document for document in yaml.safe_load_all(rendered) if document]
    assert [r["roleRef"]["name"] for r in roles if r["kind"] == "RoleBinding"] == ["camfleet-department-approver"]
    apply_json(cluster, roles)

    approver = create_as(cluster, "alice", [f"{DEPARTMENT_GROUP}{namespace}"], approval(namespace, "by-alice"))
    assert approver.returncode == 0, approver.stderr  # the role works: the refusals below are RBAC's doing
    for user, groups in [("mallory", []), ("trent", [f"{DEPARTMENT_GROUP}another-department"])]:
        refused = create_as(cluster, user, groups, approval(namespace, f"by-{user}"))
        assert refused.returncode != 0
        assert "Forbidden" in refused.stderr
        assert 'cannot create resource "grantapprovals"' in refused.stderr
    assert get_json(cluster, "grantapproval", "by-mallory", "-n", namespace) == {}


def plain_http_answers(port: int) -> bool:
    """Whether a plain-text HTTP request to the port gets any HTTP answer at all."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/")
        connection.getresponse()
    except (http.client.HTTPException, ConnectionError, TimeoutError):
        return False
    finally:
        connection.close()
    return True


def tls_answers(port: int) -> str:
    """The TLS version negotiated with the port, after an HTTP answer came back over it."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=insecure_tls())
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        sock = connection.sock
        assert isinstance(sock, ssl.SSLSocket)
        return str(sock.version())
    finally:
        connection.close()


def test_webhooks_and_the_decision_endpoint_serve_tls_only(operator: OperatorProcess) -> None:
    for what, port in [("webhooks", operator.webhook_port), ("decision endpoint", operator.decision_port)]:
        assert not plain_http_answers(port), f"the {what} answered plain HTTP"
        assert tls_answers(port) in ("TLSv1.2", "TLSv1.3"), what


@pytest.fixture
def active_grant_token(
    cluster: LocalCluster, operator: OperatorProcess, namespace: str, scratch_namespaces: list[str], captured: Captured
) -> tuple[str, str]:
    """A live-view grant of a department on `plaza` in `namespace`, active now: its token and the camera."""
    grantee = f"{namespace}-viewers"
    scratch_namespaces.append(grantee)
    plaza = fleet.camera_without_device(namespace, "plaza")
    study = fleet.grant_for_a_day(grantee, namespace, "study", ["plaza"])
    apply_json(cluster, [fleet.namespace(grantee), plaza, study])
    wait_for(
        lambda: get_json(cluster, "sharinggrant", "study", "-n", grantee).get("status", {}).get("effectiveCameras"),
        what="the grant active on plaza",
    )
    token = secret_token(get_json(cluster, "secret", "study-access", "-n", grantee))
    assert token is not None
    return captured.secret(token), f"{namespace}/plaza"


def signing_keys(cluster: LocalCluster, captured: Captured) -> SigningKeys:
    config = OperatorConfig()
    secret = get_json(cluster, "secret", config.signing_keys_secret, "-n", config.operator_namespace)
    for value in secret["data"].values():
        captured.secret(base64.b64decode(value).decode(errors="replace"))
    return SigningKeys.from_secret_data(secret["data"])


def payload_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def audited(operator: OperatorProcess, code: str) -> bool:
    """Has the operator's audit trail (its stdout) a door decision with this precise outcome?"""
    lines = operator.logs().splitlines()
    return any('"action": "GatewayAccess"' in line and f'"code": "{code}"' in line for line in lines)


def test_the_decision_endpoint_refuses_forged_expired_and_unsigned_tokens(
    cluster: LocalCluster, operator: OperatorProcess, active_grant_token: tuple[str, str], captured: Captured
) -> None:
    token, camera = active_grant_token
    genuine = decide(operator, token, camera)
    assert genuine["allowed"], f"the genuine token must open the door, or nothing is proven: {genuine}"
    header = jwt.get_unverified_header(token)
    claims = payload_of(token)

    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm=ALGORITHM, headers={"kid": header["kid"]})
    keys = signing_keys(cluster, captured)
    past = int((datetime.now(UTC) - timedelta(minutes=5)).timestamp())
    expired = jwt.encode(
        {**claims, "nbf": past - 3600, "iat": past - 3600, "exp": past},
        keys.active.private_key, algorithm=ALGORITHM, headers={"kid": keys.active.kid},
    )  # fmt: skip

    def segment(part: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    unsigned = f"{segment({'alg': 'none', 'typ': 'JWT', 'kid': header['kid']})}.{segment(claims)}."
    for name, bad, outcome in [
        ("wrong signature", forged, "invalid_token"),
        ("expired, genuinely signed", expired, "token_expired"),
        ("alg none", unsigned, "invalid_token"),
    ]:
        answer = decide(operator, bad, camera)
        # The door says only "denied"; why is in the audit trail (the operator's stdout).
        assert answer == {"allowed": False, "outcome": "denied", "httpStatus": 403}, (name, answer)
        wait_for(lambda code=outcome: audited(operator, code), what=f"the audit record of the {name} token")
    assert decide(operator, token, camera)["allowed"], "the genuine token still works: nothing was revoked by accident"


def test_no_secret_value_appears_in_logs_events_or_status(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera: str,
    namespace: str,
    captured: Captured,
) -> None:
    # Exercise the paths most likely to leak here too: a refused password, then the right one.
    wrong = captured.secret("Wr0ng-but-secret-7fq2")
    secret, camera = camera_with_secret(namespace, "leaky", sim, sim_camera)
    right = captured.secret(secret["stringData"]["password"])
    apply_json(cluster, [credentials_secret(namespace, "leaky-onvif", wrong), camera])
    wait_for(
        lambda: (
            (condition(get_json(cluster, "camera", "leaky", "-n", namespace), "Authenticated") or {}).get("reason")
            == "AuthFailed"
        ),
        what="AuthFailed with the wrong password",
    )
    apply_json(cluster, [credentials_secret(namespace, "leaky-onvif", right)])
    wait_for(
        lambda: (
            (condition(get_json(cluster, "camera", "leaky", "-n", namespace), "Ready") or {}).get("status") == "True"
        ),
        what="Ready with the right password",
    )
    captured.snapshot(cluster, namespace)

    texts = captured.texts()
    needles = {value for value in captured.secrets if len(value) >= 8}
    needles |= {base64.b64encode(value.encode()).decode() for value in needles}
    leaks = sorted({place for place, text in texts.items() for needle in needles if needle in text})
    size = sum(len(text) for text in texts.values())
    print(f"\nleak scan: {len(captured.secrets)} secret values (and their base64) in {len(texts)} texts, {size} chars")
    assert any(name.startswith("log ") for name in texts)
    assert any(name.endswith(".events.json") for name in texts)
    assert not leaks, f"a Secret value appears in: {leaks}"
