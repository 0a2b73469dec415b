"""How the recording controller writes recorder groups: joins close together are one write of the group (each write
restarts the group's pod), a departure is written at once, and a camera counts as recorded only once the written
and rolled-out Deployment records it."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import timedelta
from typing import Any

from camfleet.api.camera import Camera
from camfleet.api.recording_policy import RecordingPolicy
from camfleet.clock import FakeClock
from camfleet.controllers.recording_groups import RecorderGroups
from camfleet.kube.storage import StorageClassFacts
from camfleet.kube.store import CameraStore
from camfleet.recording import groups, workloads
from camfleet.recording.holds import RETAIN_UNTIL, destruction_due, timestamp
from tests.unit.recording_logic.test_workloads import CAMERA

FACTS = StorageClassFacts("encrypted", expansion_allowed=True, encrypted=True)
POLICY = RecordingPolicy.model_validate(
    {
        "metadata": {"name": "city", "namespace": "transport", "uid": "p-1"},
        "spec": {"cameraSelector": {}, "camerasPerRecorder": 3},
    }
)
PKEY = ("transport", "city")


def camera_body(name: str) -> dict[str, Any]:
    body = copy.deepcopy(CAMERA)
    body["metadata"].update(name=name, uid=f"uid-{name}")
    body["status"] = {"streamUris": [{"profile": "main", "uri": f"rtsp://127.0.0.1:554/{name}"}]}
    return body


class Written:
    def __init__(self) -> None:
        self.manifests: list[dict[str, Any]] = []
        self.groups: RecorderGroups | None = None

    async def apply_once(self, manifest: dict[str, Any]) -> None:
        self.manifests.append(manifest)
        if manifest["kind"] == "Deployment" and self.groups is not None:
            self.groups.deployment_changed(manifest, deleted=False)

    def deployments(self) -> list[list[str]]:
        return [
            [m["camera"] for m in json.loads(d["metadata"]["annotations"][groups.MEMBERS_ANNOTATION])]
            for d in self.manifests
            if d["kind"] == "Deployment"
        ]


def setup() -> tuple[RecorderGroups, Written, CameraStore]:
    cameras, written = CameraStore(), Written()
    recorder_groups = RecorderGroups(
        None, cameras, FakeClock(), written.apply_once, lambda key, at: None,  # type: ignore[arg-type]
        workloads.RecorderSettings(), 30,
    )  # fmt: skip
    written.groups = recorder_groups
    volume = groups.group_volume(POLICY, "city-rg-0", "encrypted", "2000Gi", 30)
    volume["status"] = {"phase": "Bound"}
    recorder_groups.volume_changed(volume, deleted=False)  # known from the watch: no read needed
    return recorder_groups, written, cameras


async def join(recorder_groups: RecorderGroups, cameras: CameraStore, name: str) -> int:
    cameras.put(camera_body(name))
    placement = await recorder_groups.join(Camera.model_validate(camera_body(name)), POLICY, FACTS, 30)
    return placement.ready_replicas


def test_joins_close_together_are_one_write_and_a_departure_is_written_at_once() -> None:
    async def run() -> None:
        recorder_groups, written, cameras = setup()
        for name in ("a", "b", "c"):
            assert await join(recorder_groups, cameras, name) == 0  # decided, not written: not recorded yet
        assert written.deployments() == []
        await recorder_groups.write(PKEY)
        assert written.deployments() == [["a", "b", "c"]]  # one write (one pod restart) for three cameras

        # The Deployment rolls out its pod: only now are its members recorded.
        rolled = {
            **written.manifests[-1],
            "status": {"observedGeneration": 2, "readyReplicas": 1, "updatedReplicas": 1},
        }
        rolled["metadata"] = {**rolled["metadata"], "generation": 2}
        assert sorted(recorder_groups.deployment_changed(rolled, deleted=False)) == [
            ("transport", "a"), ("transport", "b"), ("transport", "c")
        ]  # fmt: skip
        assert await join(recorder_groups, cameras, "b") == 1
        stale = {**rolled, "metadata": {**rolled["metadata"], "generation": 3}}
        recorder_groups.deployment_changed(stale, deleted=False)
        assert await join(recorder_groups, cameras, "b") == 0  # a spec not rolled out yet does not record

        until = await recorder_groups.leave(("transport", "b"), POLICY, 30)
        assert until is not None
        assert written.deployments()[-1] == ["a", "b", "c"]
        members = json.loads(written.manifests[-1]["metadata"]["annotations"][groups.MEMBERS_ANNOTATION])
        assert [m["mode"] for m in members] == ["record", "retain", "record"]

    asyncio.run(run())


class FakeClient:
    """The calls the groups part makes besides applies: annotate (merge patch) and delete."""

    def __init__(self) -> None:
        self.patched: list[tuple[str, dict[str, Any]]] = []
        self.deleted: list[str] = []

    async def patch(self, resource: Any, name: str, patch: dict[str, Any], **_: Any) -> None:
        self.patched.append((name, patch["metadata"]["annotations"]))

    async def delete(self, resource: Any, name: str, **_: Any) -> None:
        self.deleted.append(name)


def test_an_expired_member_is_dropped_and_the_emptied_group_goes_while_its_volume_waits_for_the_janitor() -> None:
    async def run() -> None:
        recorder_groups, written, cameras = setup()
        client, clock = FakeClient(), FakeClock()
        recorder_groups._client, recorder_groups._clock = client, clock  # type: ignore[assignment]
        assert await join(recorder_groups, cameras, "a") == 0
        await recorder_groups.write(PKEY)
        until = await recorder_groups.leave(("transport", "a"), POLICY, 30)
        assert until == clock.now() + timedelta(days=30)
        # Nobody records into the volume any more: released, to be destroyed at the last member's retain-until.
        (name, release), *_ = client.patched
        assert name == "city-rg-0-recordings"
        assert release[RETAIN_UNTIL] == timestamp(until)
        assert written.deployments()[-1] == ["a"]  # the pod stays, keeping (and pruning) a's directory

        clock.advance(29 * 86_400)
        await recorder_groups.expire(("transport", "a"), POLICY, 30)
        assert client.deleted == []  # still inside its retention
        clock.advance(86_400)
        await recorder_groups.expire(("transport", "a"), POLICY, 30)
        assert client.deleted == ["city-rg-0"]  # the Deployment; never the volume (the janitor's, after retention)
        assert recorder_groups.group_of(("transport", "a")) is None

    asyncio.run(run())


def test_a_deleted_policy_releases_its_group_volumes_now() -> None:
    async def run() -> None:
        recorder_groups, _, cameras = setup()
        client = FakeClient()
        recorder_groups._client = client  # type: ignore[assignment]
        await join(recorder_groups, cameras, "a")
        await recorder_groups.write(PKEY)
        await recorder_groups.policy_gone("transport", "city")
        (name, release), *_ = client.patched
        assert name == "city-rg-0-recordings"
        annotations = {k: v for k, v in release.items() if v is not None}
        due = destruction_due(annotations)
        assert due is not None
        assert due >= FakeClock().now() + timedelta(days=30)

    asyncio.run(run())
