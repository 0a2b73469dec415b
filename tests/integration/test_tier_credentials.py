"""Issue 19 point 3 on the real control plane: a department holding level 2 through an AccessTier, in an absolute
window that ends moments after the test starts, gets a signed credential in a Secret of its namespace; with it the
door (/v1/decide, /v1/mediamtx/auth) lets it view and the PTZ control service lets it steer at level 2, until the
window's end, when the operator revokes it (Secret deleted, credential refused by both)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from tests.helpers import audited, wait_for
from tests.integration.conftest import TIER_CREDENTIAL_LIFETIME_SECONDS, TIER_CREDENTIAL_ROTATE_BEFORE_SECONDS
from tests.integration.manifests import as_yaml, camera_with_secret
from tests.integration.test_access import ask, gateway_allows
from tests.integration.test_ptz_control import PAN, Fleet, officer_of, pans, ptz

WINDOW_SECONDS = 30
"""The tier's window ends this long after it is created: time to issue, use, and see the end."""


@pytest.fixture
def flood_fleet(cluster: LocalCluster, operator: OperatorProcess) -> Iterator[Fleet]:
    suffix = uuid.uuid4().hex[:6]
    owner, water = f"tc-own-{suffix}", f"tc-water-{suffix}"
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in (owner, water)]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    console = operator.issue_gateway_credential(f"tc-console-{suffix}", (owner,))
    people = {"level2": officer_of(cluster, "level2", water)}  # who steers with the tier credential
    yield Fleet(owner, {"level2": water}, {"Authorization": f"Bearer {console}"}, people)
    cluster.kubectl("delete", "accesstier", f"flood-{suffix}", check=False)
    cluster.kubectl("delete", "namespace", owner, water, "--wait=false", check=False)


def secret_of(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any] | None:
    done = cluster.kubectl("get", "secret", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def payload_of(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    parsed: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return parsed


def decide(operator: OperatorProcess, token: str, camera: str, permission: str = "LiveView") -> int:
    return ask(operator, "/v1/decide", {"camera": camera, "permission": permission, "token": token})[0]


def test_a_tier_holders_credential_works_inside_its_window_and_stops_at_the_windows_end(
    cluster: LocalCluster, operator: OperatorProcess, flood_fleet: Fleet, sim: SimProcess, sim_camera: str
) -> None:
    fleet, water = flood_fleet, flood_fleet.departments["level2"]
    cluster.kubectl("apply", "-f", "-", input=as_yaml(camera_with_secret(fleet.owner, "mast", sim, sim_camera)))
    camera = f"{fleet.owner}/mast"
    wait_for(lambda: ptz(operator, fleet, "acquire", camera, "owner")[0] == 200, timeout=60, what="camera known")
    assert ptz(operator, fleet, "release", camera, "owner")[0] == 200

    start = datetime.now(UTC)
    end = (start + timedelta(seconds=WINDOW_SECONDS)).replace(microsecond=0)
    tier_name = f"flood-{fleet.owner.rsplit('-', 1)[1]}"
    window = {"absolute": {"start": (start - timedelta(minutes=1)).isoformat(), "end": end.isoformat()}}
    tier = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "AccessTier",
        "metadata": {"name": tier_name},
        "spec": {"level": 2, "subjects": [{"department": water, "windows": [window]}]},
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(tier))
    secret_name = f"{tier_name}-tier-credential"
    secret = wait_for(lambda: secret_of(cluster, water, secret_name), timeout=15, what="the tier credential's Secret")
    issued_after = (datetime.now(UTC) - start).total_seconds()

    # The Secret: camfleet's, owned by the tier, stating level and expiry; the token states level, scope, time.
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "camfleet"
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "AccessTier"
    token = base64.b64decode(secret["data"]["token"]).decode()
    claims = payload_of(token)
    assert (claims["kind"], claims["sub"], claims["level"], claims["tier"]) == ("tier", water, 2, tier_name)
    # Level 2 reaches every shared camera outside restricted zones, this session's other cameras included.
    assert camera in claims["cameras"]
    assert claims["exp"] == int(end.timestamp()), "the credential ends with the window"

    # Inside the window: the door lets the department view, the control service lets it steer at level 2.
    assert decide(operator, token, camera) == 200
    assert gateway_allows(operator, token, camera)
    status, granted = ptz(operator, fleet, "move", camera, "level2", token=token)
    assert (status, granted["outcome"], granted["holder"]["rank"]) == (200, "Granted", "Level2")
    wait_for(lambda: pans(sim, sim_camera) == [PAN["level2"]], timeout=10, what="the tier holder's move at the device")
    assert ptz(operator, fleet, "release", camera, "level2", token=token)[0] == 200
    issued = audited(operator, "CredentialsIssued", f"AccessTier {tier_name}")
    assert issued[-1]["department"] == water
    assert issued[-1]["level"] == 2

    # The window ends: revoked, the Secret goes, and both the door and the control service refuse.
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()))
    assert decide(operator, token, camera) == 403
    assert not gateway_allows(operator, token, camera)
    status, refused = ptz(operator, fleet, "move", camera, "level2", token=token)
    assert (status, refused["outcome"]) == (403, "denied")
    wait_for(lambda: secret_of(cluster, water, secret_name) is None, timeout=10, what="the Secret deleted")
    gone_after = (datetime.now(UTC) - end).total_seconds()
    revoked = audited(operator, "CredentialsRevoked", f"AccessTier {tier_name}")
    assert revoked[-1]["department"] == water
    assert pans(sim, sim_camera) == [PAN["level2"]], "no move after the window's end reached the device"
    print(f"\ntier credential issued {issued_after:.1f}s after the tier; Secret deleted {gone_after:.1f}s after end")


def test_a_department_that_leaves_the_tier_loses_its_credential(
    cluster: LocalCluster, operator: OperatorProcess, flood_fleet: Fleet, sim: SimProcess, sim_camera: str
) -> None:
    fleet, water = flood_fleet, flood_fleet.departments["level2"]
    cluster.kubectl("apply", "-f", "-", input=as_yaml(camera_with_secret(fleet.owner, "mast", sim, sim_camera)))
    camera = f"{fleet.owner}/mast"
    wait_for(lambda: ptz(operator, fleet, "acquire", camera, "owner")[0] == 200, timeout=60, what="camera known")
    assert ptz(operator, fleet, "release", camera, "owner")[0] == 200
    tier_name = f"flood-{fleet.owner.rsplit('-', 1)[1]}"

    def tier(*departments: str) -> str:
        subjects = [{"department": department} for department in departments]
        body = {"level": 2, "subjects": subjects}
        return yaml.safe_dump(
            {"apiVersion": "camfleet.io/v1alpha1", "kind": "AccessTier", "metadata": {"name": tier_name}, "spec": body}
        )

    cluster.kubectl("apply", "-f", "-", input=tier(water, fleet.owner))
    secret_name = f"{tier_name}-tier-credential"
    secret = wait_for(lambda: secret_of(cluster, water, secret_name), timeout=15, what="the tier credential's Secret")
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert decide(operator, token, camera) == 200

    cluster.kubectl("apply", "-f", "-", input=tier(fleet.owner))  # the department leaves the tier
    wait_for(lambda: secret_of(cluster, water, secret_name) is None, timeout=15, what="the Secret deleted")
    assert decide(operator, token, camera) == 403
    status, refused = ptz(operator, fleet, "acquire", camera, "level2", token=token)
    assert (status, refused["outcome"]) == (403, "denied")
    assert secret_of(cluster, fleet.owner, secret_name) is not None, "the department still in the tier keeps its own"
    revoked = audited(
        operator, "CredentialsRevoked", f"AccessTier {tier_name}", where=lambda r: r["department"] == water
    )
    assert [r["reason"] for r in revoked] == ["the department left the tier"]


def test_a_tier_credential_is_rotated_before_it_expires_and_the_old_one_works_until_its_own_expiry(
    cluster: LocalCluster, operator: OperatorProcess, flood_fleet: Fleet, sim: SimProcess, sim_camera: str
) -> None:
    """The session's operator issues tier credentials for TIER_CREDENTIAL_LIFETIME_SECONDS and writes the next one
    TIER_CREDENTIAL_ROTATE_BEFORE_SECONDS before expiry. The new token works at the door and the control service at
    once; the old one, never revoked (the department still holds the level), works until its own `exp`, then both
    refuse it."""
    fleet, water = flood_fleet, flood_fleet.departments["level2"]
    cluster.kubectl("apply", "-f", "-", input=as_yaml(camera_with_secret(fleet.owner, "mast", sim, sim_camera)))
    camera = f"{fleet.owner}/mast"
    wait_for(lambda: ptz(operator, fleet, "acquire", camera, "owner")[0] == 200, timeout=60, what="camera known")
    assert ptz(operator, fleet, "release", camera, "owner")[0] == 200
    tier_name = f"flood-{fleet.owner.rsplit('-', 1)[1]}"
    tier = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "AccessTier",
        "metadata": {"name": tier_name},
        "spec": {"level": 2, "subjects": [{"department": water}]},  # no window: held for good, rotated for ever
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(tier))
    secret_name = f"{tier_name}-tier-credential"

    def token_now() -> str | None:
        secret = secret_of(cluster, water, secret_name)
        return base64.b64decode(secret["data"]["token"]).decode() if secret else None

    first = wait_for(token_now, timeout=15, what="the first tier credential")
    assert payload_of(first)["exp"] - payload_of(first)["iat"] == TIER_CREDENTIAL_LIFETIME_SECONDS

    # The session's other cameras come and go (level 2 reaches them all), and a new scope is a new credential at
    # once: the rotation is the first rewrite that keeps the scope.
    deadline = time.monotonic() + 2 * TIER_CREDENTIAL_LIFETIME_SECONDS
    while True:
        second = wait_for(lambda old=first: (t := token_now()) != old and t, timeout=30, what="the next credential")
        if payload_of(second)["cameras"] == payload_of(first)["cameras"] or time.monotonic() > deadline:
            break
        first = second
    first_claims, second_claims = payload_of(first), payload_of(second)
    lead = first_claims["exp"] - second_claims["iat"]
    assert lead > 0, "rotated before the old credential expired"
    assert abs(lead - TIER_CREDENTIAL_ROTATE_BEFORE_SECONDS) <= 3
    assert (second_claims["level"], second_claims["sub"]) == (2, water)
    assert second_claims["jti"] != first_claims["jti"]

    # Both work, at the door and at the control service, while the old one has not expired.
    for token in (second, first):
        assert decide(operator, token, camera) == 200
        assert gateway_allows(operator, token, camera)
        status, answer = ptz(operator, fleet, "move", camera, "level2", token=token)
        assert (status, answer["holder"]["rank"]) == (200, "Level2")
    assert time.time() < first_claims["exp"], "the test was too slow to see both at work"
    wait_for(lambda: pans(sim, sim_camera) == [PAN["level2"]] * 2, timeout=10, what="both moves at the device")
    rotated = audited(
        operator, "CredentialsIssued", f"AccessTier {tier_name}", where=lambda r: r["outcome"] == "rotated"
    )
    assert rotated[0]["department"] == water

    # The old credential's own expiry: refused by both; the department's current one still works.
    time.sleep(max(0.0, first_claims["exp"] + 1 - time.time()))
    assert decide(operator, first, camera) == 403
    assert not gateway_allows(operator, first, camera)
    status, refused = ptz(operator, fleet, "move", camera, "level2", token=first)
    assert (status, refused["outcome"]) == (403, "denied")
    current = token_now()
    assert current is not None
    assert decide(operator, current, camera) == 200
    status, answer = ptz(operator, fleet, "move", camera, "level2", token=current)
    assert status == 200
    assert pans(sim, sim_camera) == [PAN["level2"]] * 3, "the expired credential's move never reached the device"
    print(f"\ntier credential rotated {lead}s before its expiry (lifetime {TIER_CREDENTIAL_LIFETIME_SECONDS}s)")
