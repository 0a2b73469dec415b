"""Issue 15, deliverable 2: the chain head checkpointed outside the pod, signed, and a cut-off tail named.

A real recorder process records the simulator's RTSP stream with real ffmpeg; the real ChainCheckpointer runs in
this process on a FakeClock against the real local control plane (kwok's pods are not reachable, so the recorder
pod's event names 127.0.0.1 and the checkpointer is given the recorder's port). Truncating the chain and
restarting the recorder gives a `ChainRewritten` Event, and `camfleet verify --camera` names the cut-off tail
reading the ConfigMap and the signing-keys Secret with the test's kubeconfig.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Event, Secret

from camfleet.access.tokens import SigningKeys
from camfleet.active_gate import ActiveGate
from camfleet.clock import FakeClock
from camfleet.config import FIELD_MANAGER
from camfleet.controllers.checkpoints import ChainCheckpointer
from camfleet.devcluster.cluster import LocalCluster
from camfleet.kube.apply import get_or_none
from camfleet.kube.events import EventRecorder
from camfleet.kube.resources import CameraResource
from camfleet.kube.store import CameraStore
from camfleet.recorder_pod.checkpoint import LATEST_KEY, load_checkpoint
from camfleet.recorder_pod.storage import MANIFEST_NAME
from tests.integration.manifests import unreachable_camera
from tests.recorder import conftest as recorder_fixtures
from tests.recorder.conftest import (
    RecorderProcess,
    cleaned_up,
    manifest_lines,
    port_accepts,
    recorded_segments,
    wait_for,
)

T = TypeVar("T")
CAMERA = "gate"
rtsp_port = recorder_fixtures.rtsp_port  # the simulator's real RTSP server, as the recorder tests run it


@pytest.fixture
async def kube(cluster: LocalCluster) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(KubeConfig.from_file(str(cluster.kubeconfig)), field_manager=FIELD_MANAGER)
    yield client
    await client.close()


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, within: float = 20.0) -> T:
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def recorder_objects(namespace: str, camera_uid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recorder Deployment and pod events kopf would hand the checkpointer."""
    labels = {"app.kubernetes.io/managed-by": "camfleet", "app.kubernetes.io/component": "recorder"}
    labels["camfleet.io/camera"] = CAMERA
    deployment = {
        "metadata": {
            "name": f"{CAMERA}-recorder",
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [{"kind": "Camera", "name": CAMERA, "uid": camera_uid}],
        }
    }
    pod = {
        "metadata": {"name": f"{CAMERA}-recorder-1", "namespace": namespace, "labels": labels},
        "status": {"phase": "Running", "podIP": "127.0.0.1"},
    }
    return deployment, pod


def chain_of(manifest: dict[str, Any] | None) -> Any:
    return load_checkpoint(json.loads(manifest["data"][LATEST_KEY])) if manifest and manifest.get("data") else None


async def test_the_chain_head_is_signed_outside_the_pod_and_a_cut_off_tail_is_named(
    cluster: LocalCluster, crds_installed: None, namespace: str, kube: AsyncClient, rtsp_port: int, tmp_path: Path
) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(unreachable_camera(namespace, CAMERA, "Unconditional")))
    camera = (await kube.get(CameraResource, CAMERA, namespace=namespace)).to_dict()
    store = CameraStore()
    store.put(camera)
    keys = SigningKeys.generate(datetime.now(UTC))
    await kube.create(Secret(metadata=ObjectMeta(name="camfleet-signing-keys", namespace=namespace),
                             data=keys.to_secret_data()))  # fmt: skip

    data_dir = tmp_path / "volume"
    url = f"rtsp://127.0.0.1:{rtsp_port}/cam/{CAMERA}/main"
    clock = FakeClock()
    with cleaned_up() as started:
        first = RecorderProcess(data_dir, url, "pw-chain", tmp_path / "first.log", "--retention-days", "30")
        started.append(first)
        wait_for(lambda: len(recorded_segments(data_dir)) >= 4, 90, "four recorded segments")

        checkpointer = ChainCheckpointer(kube, EventRecorder(kube), store, keys, clock, interval=60, port=first.port)
        deployment, pod = recorder_objects(namespace, camera["metadata"]["uid"])
        checkpointer.recorder_changed(deployment, deleted=False)
        checkpointer.pod_changed(pod, deleted=False)
        task = asyncio.create_task(checkpointer.run(ActiveGate()))
        try:

            async def stored() -> Any:
                found = await get_or_none(kube, ConfigMap, f"{CAMERA}-chain", namespace)
                return chain_of(found.to_dict()) if found is not None else None

            signed = await eventually(stored, "the first signed checkpoint")
            signed.check_signature({keys.active.kid: keys.active.public_key})
            assert signed.camera == f"{namespace}/{CAMERA}"
            assert signed.seq >= 4

            # a (fake-clock) minute later, with new segments recorded, the head moved and is signed again
            wait_for(lambda: len(manifest_lines(data_dir)) > signed.seq + 1, 30, "lines after the checkpoint")
            clock.advance(60)
            moved = await eventually(
                lambda: _after(stored, signed.seq), "a newer checkpoint one (fake-clock) minute later"
            )
            assert first.terminate() == 0

            # the attacker cuts the tail off and the recorder restarts on the shorter chain
            last = manifest_lines(data_dir)[-1]["seq"]
            assert last >= moved.seq
            keep = moved.seq - 3
            manifest = data_dir / MANIFEST_NAME
            manifest.write_text("".join(line + "\n" for line in manifest.read_text().splitlines()[:keep]))
            second = RecorderProcess(
                data_dir, url, "pw-chain", tmp_path / "second.log", "--metrics-port", str(first.port)
            )
            started.append(second)
            wait_for(lambda: port_accepts(first.port), 30, "the restarted recorder")
            clock.advance(60)

            async def rewritten() -> list[Any]:
                events = [e async for e in kube.list(Event, namespace=namespace)]
                return [e for e in events if e.reason == "ChainRewritten" and e.involvedObject.name == CAMERA]

            reported = await eventually(rewritten, "a ChainRewritten Event on the Camera")
            assert reported[0].type == "Warning"
            assert f"line {moved.seq}" in str(reported[0].message)
            assert second.terminate() == 0
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    stored_map = (await kube.get(ConfigMap, f"{CAMERA}-chain", namespace=namespace)).to_dict()
    assert stored_map["metadata"]["labels"]["app.kubernetes.io/component"] == "chain-checkpoint"
    verified = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "camfleet.recorder_pod", "verify", str(data_dir), "--camera", f"{namespace}/{CAMERA}",
         "--operator-namespace", namespace],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
    )  # fmt: skip
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert f"the checkpoint signed at {moved.time} saw line {moved.seq}" in verified.stdout


async def _after(stored: Callable[[], Awaitable[Any]], seq: int) -> Any:
    found = await stored()
    return found if found is not None and found.seq > seq else None
