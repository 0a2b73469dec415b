"""Bad input: invalid objects are refused by the real API server with messages; objects that pass the schema but
are wrong get conditions with reasons; no handler raises an exception nobody handles.

tests/integration/test_api_server.py already proves that the API server and the pydantic models agree on
hypothesis-generated objects (200 per kind) and that every manifest in tests/invalid is refused naming its
rule; here the refusals of generated invalid objects must also tell the user what is wrong. A camera
selected by two policies is tests/integration/test_recording.py::
test_a_camera_selected_by_two_policies_says_so_and_does_not_flap.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from pydantic import ValidationError

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from tests.fault import fleet
from tests.fault.support import Captured, apply_json, uncaught_exceptions
from tests.helpers import condition, get_json, wait_for
from tests.integration.manifests import camera_with_secret
from tests.unit.api import strategies
from tests.unit.api.manifests import model_for

pytestmark = pytest.mark.fault

INVALID_PER_KIND = 12
# A refusal that helps: the API server names the field (spec.x.y) or the unknown field it refused.
NAMES_A_FIELD = re.compile(r'(spec|metadata)(\.[\w\[\]]+)+|unknown field "[^"]+"')


def pydantic_refuses(document: dict[str, Any]) -> bool:
    try:
        model_for(document).model_validate(document)
    except ValidationError:
        return True
    return False


@pytest.mark.parametrize("kind", strategies.KINDS)
def test_generated_invalid_objects_are_refused_with_a_message_naming_the_field(
    cluster: LocalCluster, crds_installed: None, namespace: str, kind: str
) -> None:
    refusals: list[str] = []

    @settings(
        max_examples=INVALID_PER_KIND,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(document=strategies.candidates(kind))
    def refused_with_a_message(document: dict[str, Any]) -> None:
        assume(pydantic_refuses(document))
        done = cluster.kubectl(
            "create", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(document), check=False
        )
        assert done.returncode != 0, f"accepted:\n{json.dumps(document, indent=2)}"
        assert NAMES_A_FIELD.search(done.stderr), f"the refusal does not say what is wrong: {done.stderr}"
        refusals.append(done.stderr)

    refused_with_a_message()
    assert refusals, "no invalid object was generated"


def camera_conditions(cluster: LocalCluster, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    camera = get_json(cluster, "camera", name, "-n", namespace)
    return {kind: condition(camera, kind) or {} for kind in ("Authenticated", "Reachable", "Recording", "Ready")}


def test_objects_that_pass_the_schema_but_are_wrong_get_conditions_with_reasons(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera_ids: Iterator[str],
    namespace: str,
    captured: Captured,
    recording_storage: None,
) -> None:
    log_start = len(operator.logs())
    unapplied, no_secret = camera_with_secret(namespace, "no-secret", sim, next(sim_camera_ids))
    captured.secret(unapplied["stringData"]["password"])  # never applied: the camera names a missing Secret
    pinned = camera_with_secret(namespace, "pinned", sim, next(sim_camera_ids), recordingPolicyRef={"name": "gone"})
    captured.secret(pinned[0]["stringData"]["password"])
    nobody = fleet.recording_policy(namespace, "selects-nobody")
    nobody["spec"]["cameraSelector"] = {"matchLabels": {"zone": "nowhere"}}
    ghost = fleet.grant_for_a_day(namespace, namespace, "ghost", ["no-such-camera"])
    apply_json(cluster, [no_secret, *pinned, nobody, ghost])

    missing = wait_for(
        lambda: (c := camera_conditions(cluster, namespace, "no-secret"))["Authenticated"].get("reason") and c,
        what="no-secret's Authenticated condition",
    )
    assert (missing["Authenticated"]["status"], missing["Authenticated"]["reason"]) == ("False", "CredentialsMissing")
    assert "no-secret-onvif" in missing["Authenticated"]["message"]
    assert missing["Reachable"]["reason"] == "NotContacted"
    # Ready names what needs a person (the Secret), and kstatus's Stalled says the same.
    assert (missing["Ready"]["status"], missing["Ready"]["reason"]) == ("False", "CredentialsMissing")
    assert "no-secret-onvif" in missing["Ready"]["message"], missing["Ready"]
    stalled = condition(get_json(cluster, "camera", "no-secret", "-n", namespace), "Stalled") or {}
    assert (stalled.get("status"), stalled.get("reason")) == ("True", "CredentialsMissing")

    unpinned = wait_for(
        lambda: (c := camera_conditions(cluster, namespace, "pinned"))["Recording"].get("reason") and c,
        what="pinned's Recording condition",
    )
    assert (unpinned["Recording"]["status"], unpinned["Recording"]["reason"]) == ("False", "PolicyNotFound")
    assert "gone" in unpinned["Recording"]["message"]
    assert (unpinned["Ready"]["status"], unpinned["Ready"]["reason"]) == ("False", "PolicyNotFound")

    idle = wait_for(
        lambda: get_json(cluster, "recordingpolicy", "selects-nobody", "-n", namespace).get("status"),
        what="a status on the policy that selects no camera",
    )
    assert idle["selectedCameras"] == 0
    # Recording nothing needs a change (a selector, a label): Stalled, which Flux reports as Failed.
    ready = condition({"status": idle}, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "NoCameraSelected"), ready
    assert (condition({"status": idle}, "Stalled") or {}).get("status") == "True"

    grant = wait_for(
        lambda: get_json(cluster, "sharinggrant", "ghost", "-n", namespace).get("status"),
        what="a status on the grant for a camera that does not exist",
    )
    assert grant["effectiveCameras"] == []

    assert not uncaught_exceptions(operator.logs()[log_start:])


def test_a_grant_for_a_camera_that_does_not_exist_says_which(
    cluster: LocalCluster, operator: OperatorProcess, namespace: str
) -> None:
    apply_json(cluster, [fleet.grant_for_a_day(namespace, namespace, "ghost", ["nowhere"])])
    grant = wait_for(
        lambda: get_json(cluster, "sharinggrant", "ghost", "-n", namespace).get("status"), what="the grant's status"
    )
    found = next(c for c in grant["conditions"] if c["type"] == "CamerasFound")
    assert (found["status"], found["reason"]) == ("False", "CameraNotFound"), found
    assert "nowhere" in found["message"]
