"""The demo's media gateway: real MediaMTX relaying each example camera's stream, its door the operator's
decision endpoint; and the two proofs the demo prints: a grant's token reads frames through it, and a short
emergency grant's token is refused once the grant has ended.

MediaMTX pulls a camera's stream from the simulator only while someone reads it (`sourceOnDemand`); the device
credentials it pulls with are the examples' demo values, in its 0600 configuration file, never on a command line.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import yaml

from camfleet.devcluster.build import ensure_built
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.gateway_probe import gateway_url, read_frames
from camfleet.devcluster.mediamtx_process import MediaMtxProcess
from camfleet.devcluster.operator_process import OperatorProcess

# A long-lived example grant whose token the printed ffplay line uses (examples/50-sharing-grants.yaml).
LIVE_GRANT = ("water-authority", "bridge-live-view")
LIVE_CAMERA = "transport/bay-bridge-km12"
# The short emergency grant the demo makes to show that access ends at expiry (R12).
EXPIRY_GRANT = ("water-authority", "demo-expiry-check")
EXPIRY_CAMERA = "transport/wusi-square-metro"
EXPIRY_SECONDS = 20
DUTY_OFFICER = ("--as=duty-officer@emc.qingdao.example", "--as-group=camfleet.io/authority:emergency-command",
                "--as-group=system:authenticated")  # fmt: skip


def _secret_values(cluster: LocalCluster, namespace: str, name: str) -> dict[str, str]:
    found = cluster.kubectl("get", "secret", name, "-n", namespace, "-o", "json", check=False)
    if found.returncode != 0:
        return {}
    data = json.loads(found.stdout).get("data") or {}
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def camera_sources(cluster: LocalCluster) -> dict[str, dict[str, Any]]:
    """MediaMTX paths `<namespace>/<camera>`, each pulling the camera's first stream with its credentials."""
    paths: dict[str, dict[str, Any]] = {}
    for camera in json.loads(cluster.kubectl("get", "cameras", "-A", "-o", "json").stdout)["items"]:
        streams = (camera.get("status") or {}).get("streamUris") or []
        if not streams:
            continue
        meta, ref = camera["metadata"], camera["spec"]["credentialsSecretRef"]
        values = _secret_values(cluster, meta["namespace"], ref["name"])
        user = quote(values.get(ref.get("usernameKey", "username"), ""), safe="")
        password = quote(values.get(ref.get("passwordKey", "password"), ""), safe="")
        parts = urlsplit(streams[0]["uri"])
        source = urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))
        # The fields the operator's relay paths carry (once it keeps them itself), so it finds them in step.
        paths[f"{meta['namespace']}/{meta['name']}"] = {
            "source": source, "sourceOnDemand": True, "rtspTransport": "tcp", "record": False,
        }  # fmt: skip
    return paths


def start_gateway(
    cluster: LocalCluster, operator: OperatorProcess, folder: Path, rtsp_port: int, api_port: int, pid_file: Path
) -> MediaMtxProcess:
    gateway = MediaMtxProcess.for_operator(
        operator, folder / "mediamtx.log", rtsp_port=rtsp_port, api_port=api_port, paths=camera_sources(cluster)
    )
    gateway.start()
    assert gateway.process is not None
    pid_file.write_text(str(gateway.process.pid))
    return gateway


def grant_token(cluster: LocalCluster, namespace: str, grant: str, timeout: float = 30) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        token = _secret_values(cluster, namespace, f"{grant}-access").get("token")
        if token:
            return token
        time.sleep(0.5)
    return None


def watch_check(cluster: LocalCluster, rtsp_port: int) -> str:
    """Read frames of the live grant's camera through the gateway with the grant's token: one line."""
    token = grant_token(cluster, *LIVE_GRANT)
    if token is None:
        return f"gateway check: grant {'/'.join(LIVE_GRANT)} has no token yet (see kubectl describe sharinggrant)"
    probe = read_frames(gateway_url(rtsp_port, LIVE_CAMERA, token))
    return f"gateway check: {LIVE_CAMERA} read through MediaMTX with grant {'/'.join(LIVE_GRANT)}'s token: " + (
        probe.detail
    )


def _short_emergency_grant(end: datetime) -> dict[str, Any]:
    namespace, name = EXPIRY_GRANT
    owner, camera = EXPIRY_CAMERA.split("/")
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "SharingGrant",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "cameras": {"namespace": owner, "names": [camera]},
            "shareClass": "Conditional",
            "permissions": ["LiveView"],
            "period": {"start": (end - timedelta(minutes=1)).isoformat(), "end": end.isoformat()},
            "purpose": "Demo: an emergency grant that ends while you watch",
            "emergency": {"incidentReference": "DEMO-EXPIRY", "description": "the demo's expiry check"},
        },
    }


def _authorization(end: datetime) -> dict[str, Any]:
    namespace, name = EXPIRY_GRANT
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "GrantApproval",
        "metadata": {"name": f"{name}-{int(end.timestamp())}", "namespace": EXPIRY_CAMERA.split("/")[0]},
        "spec": {
            "target": {"kind": "SharingGrant", "namespace": namespace, "name": name},
            "verdict": "Approve",
            "documentReference": "DEMO-EMC-AUTH",
            "reason": "The demo's expiry check",
        },
    }


def expiry_check(cluster: LocalCluster, rtsp_port: int) -> str:
    """A short emergency grant: its token reads frames before its end and is refused after it. Lines to print."""
    namespace, name = EXPIRY_GRANT
    cluster.kubectl("delete", "sharinggrant", name, "-n", namespace, "--ignore-not-found", check=False)
    end = datetime.now(UTC) + timedelta(seconds=EXPIRY_SECONDS)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(_short_emergency_grant(end)))
    cluster.kubectl("create", "-f", "-", *DUTY_OFFICER, input=yaml.safe_dump(_authorization(end)), check=False)
    token = grant_token(cluster, namespace, name)
    if token is None:
        return f"expiry check: emergency grant {namespace}/{name} got no token (kubectl describe sharinggrant)"
    url = gateway_url(rtsp_port, EXPIRY_CAMERA, token)
    before = read_frames(url)
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 2)
    after = read_frames(url)
    ended = end.astimezone(UTC).strftime("%H:%M:%S")
    return (
        f"expiry check: emergency grant {namespace}/{name} on {EXPIRY_CAMERA}, ends {ended} UTC\n"
        f"  before its end: {before.detail}\n"
        f"  after its end:  {after.detail}" + ("" if after.refused else "  <- NOT refused: see the operator log")
    )


def live_view_command(kubeconfig: Path, rtsp_port: int) -> str:
    namespace, grant = LIVE_GRANT
    kubectl = f"{ensure_built().kubectl} --kubeconfig {kubeconfig}"
    token = f"$({kubectl} get secret {grant}-access -n {namespace} -o jsonpath='{{.data.token}}' | base64 -d)"
    return f'ffplay -rtsp_transport tcp "rtsp://127.0.0.1:{rtsp_port}/{LIVE_CAMERA}?jwt={token}"'
