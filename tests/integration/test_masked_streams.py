"""Issue 17, point 4 on real parts: masked unless the owner sees it (R17).

The real operator on the real control plane makes a camera's transcoder Deployment and its publisher Secret. kwok
only pretends to run pods, so the test runs the container's own command (`camfleet transcode` with the
Deployment's args) on the host, with the Deployment's env resolved as the kubelet would (secretKeyRef read from
the Secrets). It reads the simulator's real RTSP stream (SMPTE colour bars), blanks the camera's privacy masks and
publishes to real MediaMTX with its own credential, which MediaMTX checks at the operator's door. A grantee then
reads `ns/camera/<profile>` through MediaMTX with its grant token, ffmpeg decodes frames, and the pixels inside each
mask polygon are black while those outside (one inside a triangle's bounding box) are not. The original path is
refused to the grantee; an AccessTier holder gets the same answer from the door, the owner department the original.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from camfleet.devcluster import example_fleet
from camfleet.devcluster.cluster import LocalCluster, free_port
from camfleet.devcluster.mediamtx_process import MediaMtxProcess
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from tests.helpers import get_json, wait_for
from tests.integration.conftest import ARTIFACTS
from tests.integration.manifests import camera_with_secret

ENCRYPTED = "camfleet-test-masked-encrypted"
FFMPEG = "/usr/bin/ffmpeg"
CAMFLEET = Path(sys.executable).with_name("camfleet")
WIDTH, HEIGHT = 320, 180
PROFILE = "masked"

# Fractions of the frame, inside the SMPTE bars' upper two thirds and left of the dark blue bar, where every
# unmasked pixel is clearly above black.
SHOP = [(0.05, 0.05), (0.25, 0.05), (0.25, 0.3), (0.05, 0.3)]
WINDOWS = [(0.4, 0.05), (0.8, 0.05), (0.4, 0.55)]  # a triangle: its bounding box is 0.4..0.8 x 0.05..0.55
INSIDE = {"shop": [(0.15, 0.17), (0.08, 0.1), (0.22, 0.27)], "windows": [(0.5, 0.15), (0.45, 0.35), (0.65, 0.1)]}
OUTSIDE = {
    "in the triangle's bounding box, outside the triangle": (0.65, 0.45),
    "in the triangle's bounding box, right of its hypotenuse": (0.75, 0.3),
    "between the masks": (0.33, 0.2),
    "below the rectangle": (0.15, 0.45),
}
BLACK_MAX, VISIBLE_MIN = 12, 30


def polygon(points: list[tuple[float, float]]) -> list[dict[str, float]]:
    return [{"left": left, "top": top} for left, top in points]


@pytest.fixture(scope="module")
def encrypted_class(cluster: LocalCluster) -> Iterator[None]:
    storage_class = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": ENCRYPTED, "annotations": {"camfleet.io/encrypted": "true"}},
        "provisioner": "camfleet.test/static",
        "volumeBindingMode": "Immediate",
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(storage_class))
    yield
    cluster.kubectl("delete", "storageclass", ENCRYPTED, "--ignore-not-found")


@pytest.fixture(scope="module")
def rtsp_sim() -> Iterator[SimProcess]:
    """A simulator of its own that serves RTSP (the session's serves ONVIF only): real H.264 colour bars."""
    process = SimProcess(log_path=ARTIFACTS / f"sim-masked-{os.getpid()}.log", cameras=2, rtsp_port=free_port())
    process.start()
    yield process
    process.stop()


def masked_camera(cluster: LocalCluster, namespace: str, name: str, sim: SimProcess, camera_id: str) -> None:
    objects = camera_with_secret(namespace, name, sim, camera_id, shareClass="Unconditional")
    camera = objects[1]
    camera["metadata"]["labels"] = {"recorded": "yes"}
    camera["spec"]["device"]["privacyMasks"] = [
        {"name": "shop", "polygon": polygon(SHOP)},
        {"name": "windows", "polygon": polygon(WINDOWS)},
    ]
    policy = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "RecordingPolicy",
        "metadata": {"name": "shared", "namespace": namespace},
        "spec": {
            "cameraSelector": {"matchLabels": {"recorded": "yes"}},
            "segmentSeconds": 60,
            "storage": {"storageClassName": ENCRYPTED},
            "transcodeProfiles": [
                {
                    "name": PROFILE,
                    "resolution": {"width": WIDTH, "height": HEIGHT},
                    "fps": 5,
                    "gop": 10,
                    "bitrateKbps": 384,
                    "maskPrivacy": True,
                }
            ],
        },
    }
    volume = example_fleet.static_volume(namespace, f"{name}-recordings", ENCRYPTED)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([volume, policy, *objects]))


def secret_value(cluster: LocalCluster, namespace: str, name: str, key: str) -> str:
    data = get_json(cluster, "secret", name, "-n", namespace)["data"]
    return base64.b64decode(data[key]).decode()


def resolved_env(cluster: LocalCluster, namespace: str, container: dict[str, Any]) -> dict[str, str]:
    """The container's env as the kubelet would set it: values, and secretKeyRef read from the Secret."""
    env = {}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secret_value(cluster, namespace, ref["name"], ref["key"])
    return env


def start_container_command(
    cluster: LocalCluster, namespace: str, deployment: dict[str, Any], log_path: Path
) -> subprocess.Popen[bytes]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["camfleet", "transcode"]
    env = resolved_env(cluster, namespace, container)
    # What the image provides besides the pod's env: the interpreter's path and this worktree's package.
    host = {key: os.environ[key] for key in ("PATH", "PYTHONPATH", "HOME") if key in os.environ}
    env["TMPDIR"] = str(log_path.parent)  # the pod's emptyDir at /tmp
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(CAMFLEET), "transcode", *container["args"]],
            env={**host, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


# The grant token travels as `?jwt=`: ffmpeg cuts an RTSP URL's userinfo to 127 characters, shorter than a token.
def decoded_frame(url: str) -> bytes | None:
    """The last of a few frames read from the gateway, as 8-bit gray (WIDTH x HEIGHT); None when refused."""
    done = subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url,
         "-frames:v", "8", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{WIDTH}x{HEIGHT}", "pipe:1"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode != 0 or len(done.stdout) < WIDTH * HEIGHT:
        return None
    return done.stdout[-WIDTH * HEIGHT :]


def luma(frame: bytes, point: tuple[float, float]) -> int:
    left, top = point
    return frame[int(top * HEIGHT) * WIDTH + int(left * WIDTH)]


def rtsp_refused(url: str) -> str:
    done = subprocess.run(
        [FFMPEG, "-hide_banner", "-rtsp_transport", "tcp", "-i", url, "-frames:v", "1", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0, "the original stream was served"
    return done.stderr


def door_records(operator: OperatorProcess, path: str) -> list[dict[str, Any]]:
    """The operator's audit records of the door's answers about camera `path`."""
    records = []
    for line in operator.logs().splitlines():
        if line.startswith("{") and '"action": "GatewayAccess"' in line:
            record = json.loads(line)
            if record.get("object") == f"Camera {path}":
                records.append(record)
    return records


def decide(operator: OperatorProcess, token: str, body: dict[str, Any]) -> int:
    from tests.integration.test_access import ask

    return ask(operator, "/v1/decide", body, {"Authorization": f"Bearer {token}"})[0]


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_viewers_outside_the_owner_read_only_the_masked_stream_published_by_the_transcoder(
    cluster: LocalCluster,
    operator: OperatorProcess,
    mediamtx: MediaMtxProcess,
    rtsp_sim: SimProcess,
    namespace: str,
    encrypted_class: None,
) -> None:
    owner, camera = namespace, "junction"
    suffix = uuid.uuid4().hex[:6]
    grantee, tier_holder = f"grantee-{suffix}", f"tierdept-{suffix}"
    masked_camera(cluster, owner, camera, rtsp_sim, "cam-0001")

    deployment = wait_for(
        lambda: get_json(cluster, "deployment", f"{camera}-transcode-{PROFILE}", "-n", owner),
        timeout=90,
        what="the transcoder Deployment",
    )
    publisher = wait_for(lambda: get_json(cluster, "secret", f"{camera}-publisher", "-n", owner), what="publisher")
    assert publisher["metadata"]["ownerReferences"][0]["kind"] == "Camera"
    assert publisher["metadata"]["labels"]["camfleet.io/camera"] == camera
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    password = secret_value(cluster, owner, f"{camera}-publisher", "password")
    assert password not in json.dumps(deployment), "the publisher password is referenced, never copied"
    assert "--mask" in args

    cluster.kubectl("create", "namespace", grantee)
    cluster.kubectl("create", "namespace", tier_holder)
    try:
        now = datetime.now(UTC)
        grant = {
            "apiVersion": "camfleet.io/v1alpha1",
            "kind": "SharingGrant",
            "metadata": {"name": "crossing-study", "namespace": grantee},
            "spec": {
                "cameras": {"namespace": owner, "names": [camera]},
                "shareClass": "Unconditional",
                "permissions": ["LiveView"],
                # It asks for the original stream's profile name: a masked camera admits only masking profiles.
                "transcodeProfile": "original",
                "period": {
                    "start": (now - timedelta(minutes=1)).isoformat(),
                    "end": (now + timedelta(days=1)).isoformat(),
                },
                "purpose": "Plan pedestrian crossings",
            },
        }
        tier = {
            "apiVersion": "camfleet.io/v1alpha1",
            "kind": "AccessTier",
            "metadata": {"name": f"level-3-{suffix}"},
            "spec": {"level": 3, "subjects": [{"department": tier_holder}]},
        }
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([grant, tier]))
        token = wait_for(
            lambda: (
                get_json(cluster, "secret", "crossing-study-access", "-n", grantee).get("data", {}).get("token")
                if cluster.kubectl("get", "secret", "crossing-study-access", "-n", grantee, check=False).returncode == 0
                else None
            ),
            timeout=60,
            what="the grant's token",
        )
        token = base64.b64decode(token).decode()

        log_path = ARTIFACTS / f"transcoder-{owner}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        transcoder = start_container_command(cluster, owner, deployment, log_path)
        try:
            masked_path = f"{owner}/{camera}/{PROFILE}"
            started = time.monotonic()
            frame = wait_for(
                lambda: decoded_frame(mediamtx.rtsp_url(masked_path, query=f"jwt={token}")),
                timeout=90,
                interval=2,
                what=f"frames of {masked_path} through MediaMTX",
            )
            print(f"\nfirst masked frame decoded {time.monotonic() - started:.1f}s after the transcoder started")
            inside = {mask: [luma(frame, p) for p in points] for mask, points in INSIDE.items()}
            outside = {where: luma(frame, point) for where, point in OUTSIDE.items()}
            print(f"luma inside the masks {inside}; outside {outside}")
            for mask, values in inside.items():
                assert all(value <= BLACK_MAX for value in values), f"mask {mask} is not blanked: {values}"
            for where, value in outside.items():
                assert value >= VISIBLE_MIN, f"the picture {where} {OUTSIDE[where]} was blanked: {value}"
            # The transcoder published as the camera's own transcoder, with its own credential.
            published = [r for r in door_records(operator, f"{owner}/{camera}") if "publishes" in r.get("reason", "")]
            assert published, door_records(operator, f"{owner}/{camera}")
            assert published[-1]["outcome"] == "allowed", published
            assert password not in log_path.read_text(errors="replace")

            # The original path is refused to the grantee at the door, whatever the grant asked for.
            original = f"{owner}/{camera}"
            # The operator relays each camera's original stream at `ns/camera` (controllers/gateway_paths.py).
            wait_for(lambda: original in mediamtx.configured_paths(), timeout=60, what=f"the relay path {original}")
            rtsp_refused(mediamtx.rtsp_url(original, query=f"jwt={token}"))
            refusals = [r for r in door_records(operator, original) if r.get("code") == "masked_only"]
            assert refusals, door_records(operator, original)

            # An AccessTier holder gets the same treatment; the owner department reads the original.
            gateway = operator.issue_gateway_credential(f"wall-{suffix}", (tier_holder, owner))
            question = {"camera": original, "permission": "LiveView"}
            wait_for(lambda: decide(operator, gateway, {**question, "department": owner}) != 401, what="credential")
            assert decide(operator, gateway, {**question, "department": tier_holder}) == 403
            assert decide(operator, gateway, {**question, "department": tier_holder, "profile": PROFILE}) == 200
            assert decide(operator, gateway, {**question, "department": owner}) == 200
        finally:
            stop(transcoder)
    finally:
        cluster.kubectl("delete", "namespace", grantee, tier_holder, "--wait=false", check=False)
        cluster.kubectl("delete", "accesstier", f"level-3-{suffix}", "--ignore-not-found", check=False)
