"""How the recording controller writes recorder groups: joins close together are one write of the group, a
departure is written at once, and a camera counts as recorded only once the written and rolled-out Deployment
names it. A join writes the members Secret and the annotation, never the pod template (so the other members'
pod, and their Recording, stay as they are); a rotated camera password reaches the members Secret, read once per
device pass (the camera controller's read is shared)."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from lightkube.resources.core_v1 import Secret

from camfleet.api.camera import Camera
from camfleet.api.recording_policy import RecordingPolicy
from camfleet.cameras.device_pass import Credentials
from camfleet.clock import FakeClock
from camfleet.controllers import recording_groups as recording_groups_module
from camfleet.controllers.recording import RecordingController, RecordingSettings
from camfleet.controllers.recording_groups import RecorderGroups
from camfleet.kube.events import EventRecorder
from camfleet.kube.resources import CameraResource
from camfleet.kube.storage import StorageClassFacts
from camfleet.kube.store import CameraStore
from camfleet.recording import groups, workloads
from camfleet.recording.groups import MemberCredentials
from camfleet.recording.holds import RETAIN_UNTIL, destruction_due, timestamp
from camfleet.recording.sizing import as_gib_quantity
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
    body["spec"]["credentialsSecretRef"] = {"name": f"{name}-onvif"}
    return body


class Written:
    def __init__(self) -> None:
        self.manifests: list[dict[str, Any]] = []
        self.groups: RecorderGroups | None = None
        self.running = False  # the group's pod runs the Deployment's spec and is ready (as the apply answers)
        self.woken: list[tuple[str, str]] = []  # the cameras the groups part asked to look at again

    async def apply_once(self, manifest: dict[str, Any]) -> None:
        self.manifests.append(manifest)
        if manifest["kind"] == "Deployment" and self.groups is not None:
            # As the API server answers: the newest generation of it (each members annotation change makes one).
            identity = (manifest["metadata"]["namespace"], manifest["metadata"]["name"])
            generation = self.groups._generations.get(identity, ("", 0))[1] + 1
            stored = rolled_out(manifest, generation)
            if not self.running:
                stored = {**stored, "status": {}}
            self.woken += self.groups.deployment_changed(stored, deleted=False)

    def deployments(self) -> list[list[str]]:
        return [
            [m["camera"] for m in json.loads(d["metadata"]["annotations"][groups.MEMBERS_ANNOTATION])]
            for d in self.manifests
            if d["kind"] == "Deployment"
        ]


class FakeClient:
    """The calls the groups part makes besides the Deployment and volume applies: annotate (merge patch), delete,
    read a camera's credentials Secret, and apply (and first read) a group's members Secret."""

    def __init__(self) -> None:
        self.patched: list[tuple[str, dict[str, Any]]] = []
        self.deleted: list[str] = []
        self.passwords: dict[str, str] = {}  # camera Secret name -> password
        self.secrets: list[dict[str, Any]] = []  # members Secrets applied
        self.reads = 0
        self.cameras: dict[str, dict[str, Any]] = {}  # Cameras the API server holds (read when not in the store)
        self.camera_reads: list[str] = []

    async def patch(self, resource: Any, name: str, patch: dict[str, Any], **_: Any) -> None:
        self.patched.append((name, patch["metadata"]["annotations"]))

    async def delete(self, resource: Any, name: str, **_: Any) -> None:
        self.deleted.append(name)

    async def get(self, resource: Any, name: str, **_: Any) -> Any:
        if resource is CameraResource:
            self.camera_reads.append(name)
            body = self.cameras.get(name)
            return CameraResource.from_dict(body) if body is not None else None
        if name not in self.passwords:
            return None  # as get_or_none answers for a 404
        self.reads += 1
        data = {"username": "viewer", "password": self.passwords[name]}
        return Secret.from_dict({"metadata": {"name": name}, "data": {k: b64(v) for k, v in data.items()}})

    async def apply(self, obj: Any, **_: Any) -> Any:
        self.secrets.append(obj.to_dict())
        return obj


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def setup() -> tuple[RecorderGroups, Written, CameraStore]:
    cameras, written = CameraStore(), Written()
    recorder_groups = RecorderGroups(
        FakeClient(), cameras, FakeClock(), written.apply_once, lambda key, at: None,  # type: ignore[arg-type]
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
        assert written.deployments() == [["a", "b", "c"]]  # one write for three cameras

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
        # A new generation not yet observed may be only a members annotation (Deployments count annotation
        # changes as generations): the pod seen ready stays counted until the Deployment controller has looked.
        unobserved = {**rolled, "metadata": {**rolled["metadata"], "generation": 3}}
        recorder_groups.deployment_changed(unobserved, deleted=False)
        assert await join(recorder_groups, cameras, "b") == 1
        # Observed, and a new template with no pod running it yet: nobody records it.
        stale = {**unobserved, "status": {"observedGeneration": 3, "readyReplicas": 1, "updatedReplicas": 0}}
        recorder_groups.deployment_changed(stale, deleted=False)
        assert await join(recorder_groups, cameras, "b") == 0  # a spec not rolled out yet does not record

        until = await recorder_groups.leave(("transport", "b"), POLICY, 30)
        assert until is not None
        assert written.deployments()[-1] == ["a", "b", "c"]
        members = json.loads(written.manifests[-1]["metadata"]["annotations"][groups.MEMBERS_ANNOTATION])
        assert [m["mode"] for m in members] == ["record", "retain", "record"]

    asyncio.run(run())


def test_a_groups_volume_is_sized_for_its_highest_member_bitrate_as_last_seen() -> None:
    def wanted(bitrate: int) -> str:
        headroom = POLICY.spec.storage.headroom_percent
        return as_gib_quantity(groups.group_volume_bytes(3, [bitrate], 30, headroom))  # 3 per recorder

    def requested(written: Written) -> list[str]:
        return [
            m["spec"]["resources"]["requests"]["storage"]
            for m in written.manifests
            if m["kind"] == "PersistentVolumeClaim"
        ]

    async def run() -> None:
        recorder_groups, written, cameras = setup()
        await join(recorder_groups, cameras, "a")  # the model's default bitrate (none set)
        await recorder_groups.write(PKEY)
        fast = camera_body("b")
        fast["spec"]["device"] = {"videoEncoder": {"bitrateKbps": 16384}}
        cameras.put(fast)
        await recorder_groups.join(Camera.model_validate(fast), POLICY, FACTS, 30)
        await recorder_groups.write(PKEY)
        await join(recorder_groups, cameras, "c")
        await recorder_groups.write(PKEY)
        assert requested(written) == [wanted(4096), wanted(16384), wanted(16384)]

    asyncio.run(run())


def test_a_pod_that_became_ready_while_joins_kept_coming_is_counted_before_the_joins_stop() -> None:
    """At a fleet's start every join of a group (a new members annotation) makes a new generation, often before the
    Deployment controller has written a status for the last one; a status for a generation that already had this
    pod template counts its ready pod (before, every member waited RecorderNotReady until the joins stopped)."""

    async def run() -> None:
        recorder_groups, written, cameras = setup()
        assert await join(recorder_groups, cameras, "a") == 0
        await recorder_groups.write(PKEY)
        created = {**written.manifests[-1], "status": {}}
        created["metadata"] = {**created["metadata"], "generation": 1}
        recorder_groups.deployment_changed(created, deleted=False)  # no pod yet
        # Three joins later (generation 4, same template), the controller reports generation 3: the pod is ready.
        later = {**created, "metadata": {**created["metadata"], "generation": 4},
                 "status": {"observedGeneration": 3, "readyReplicas": 1, "updatedReplicas": 1}}  # fmt: skip
        assert recorder_groups.deployment_changed(later, deleted=False) == [("transport", "a")]
        assert await join(recorder_groups, cameras, "a") == 1
        # A new pod template at generation 5 that the controller has not looked at yet: the pod last seen stands;
        # once observed without an updated pod, nobody records it.
        template = {**later["spec"]["template"], "metadata": {"labels": {"changed": "yes"}}}
        changed = {**later, "metadata": {**later["metadata"], "generation": 5},
                   "spec": {**later["spec"], "template": template}}  # fmt: skip
        recorder_groups.deployment_changed(changed, deleted=False)
        assert await join(recorder_groups, cameras, "a") == 1
        rolling = {**changed, "metadata": {**changed["metadata"], "generation": 6},
                   "status": {"observedGeneration": 5, "readyReplicas": 1, "updatedReplicas": 0}}  # fmt: skip
        recorder_groups.deployment_changed(rolling, deleted=False)
        assert await join(recorder_groups, cameras, "a") == 0

    asyncio.run(run())


def test_an_older_state_of_a_group_arriving_after_a_newer_one_loses_no_member() -> None:
    """The apply's answer is the newest state of a group's Deployment; the watch may bring an older one after it
    (the Deployment controller's status write of a generation before, delivered late on a busy API server). Taken
    as current, the next join was written from it, and the members it lacked were recorded by nobody while their
    status still said Recording (a 10,000-camera start had 36 Ready cameras in no group's members)."""

    async def run() -> None:
        recorder_groups, written, cameras = setup()
        for name in ("a", "b"):
            await join(recorder_groups, cameras, name)
        await recorder_groups.write(PKEY)
        older = rolled_out(written.manifests[-1], generation=1)
        await join(recorder_groups, cameras, "c")
        await recorder_groups.write(PKEY)
        recorder_groups.deployment_changed(rolled_out(written.manifests[-1], generation=2), deleted=False)
        assert written.deployments()[-1] == ["a", "b", "c"]

        recorder_groups.deployment_changed(older, deleted=False)  # late: generation 1 after 2
        assert [m.camera for m in recorder_groups.policy_groups("transport", "city")[0].members] == ["a", "b", "c"]
        await recorder_groups.leave(("transport", "b"), POLICY, 30)
        members = json.loads(written.manifests[-1]["metadata"]["annotations"][groups.MEMBERS_ANNOTATION])
        assert [(m["camera"], m["mode"]) for m in members] == [("a", "record"), ("b", "retain"), ("c", "record")]

        # The same name made again (deleted by hand, applied again: a new uid) starts its generations over.
        again = rolled_out(written.manifests[-1], generation=1)
        only_a = groups.members_annotation([groups.Member("a", "uid-a")])
        again["metadata"] = {
            **again["metadata"],
            "uid": "made-again",
            "annotations": {groups.MEMBERS_ANNOTATION: only_a},
        }
        recorder_groups.deployment_changed(again, deleted=False)
        assert [m.camera for m in recorder_groups.policy_groups("transport", "city")[0].members] == ["a"]

    asyncio.run(run())


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
        # The Deployment and its members Secret; never the volume (the janitor's, after retention).
        assert client.deleted == ["city-rg-0", "city-rg-0-members"]
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


def rolled_out(manifest: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    """The Deployment as the API server shows it once its pod runs its spec and is ready."""
    status = {"observedGeneration": generation, "readyReplicas": 1, "updatedReplicas": 1}
    return {**manifest, "metadata": {**manifest["metadata"], "generation": generation}, "status": status}


def test_a_join_rewrites_the_members_secret_not_the_pod_and_the_others_stay_recorded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def run() -> None:
        recorder_groups, written, cameras = setup()
        client = recorder_groups._client
        assert isinstance(client, FakeClient)
        client.passwords = {f"{name}-onvif": f"pw-{name}:Secret/{name}" for name in ("a", "b", "c")}
        for name in ("a", "b"):
            await join(recorder_groups, cameras, name)
        await recorder_groups.write(PKEY)
        first = written.manifests[-1]
        recorder_groups.deployment_changed(rolled_out(first), deleted=False)
        written.running = True
        assert [await join(recorder_groups, cameras, name) for name in ("a", "b")] == [1, 1]
        (secret,) = client.secrets
        data = secret_data(secret)
        assert [m["camera"] for m in json.loads(data["members.json"])] == ["a", "b"]
        assert data["b.password"] == "pw-b:Secret/b"

        # c joins: the Secret and the annotation name it; the pod template is the one the pod already runs.
        written.woken.clear()
        await join(recorder_groups, cameras, "c")
        await recorder_groups.write(PKEY)
        second = written.manifests[-1]
        assert written.deployments()[-1] == ["a", "b", "c"]
        assert second["spec"] == first["spec"]  # no new generation: the API server restarts no pod
        data = secret_data(client.secrets[-1])
        assert [m["camera"] for m in json.loads(data["members.json"])] == ["a", "b", "c"]
        assert data["c.password"] == "pw-c:Secret/c"
        # The same generation, still ready: only c is looked at again, a and b keep their ready pod.
        assert written.woken == [("transport", "c")]
        assert [await join(recorder_groups, cameras, name) for name in ("a", "b", "c")] == [1, 1, 1]

    asyncio.run(run())
    assert not any("pw-" in record.getMessage() for record in caplog.records)


def with_secrets(passwords: dict[str, str]) -> tuple[RecorderGroups, FakeClient, FakeClock, CameraStore]:
    """`setup()` with the cameras' Secrets holding `passwords` (Secret name -> password) and a clock to move."""
    recorder_groups, _, cameras = setup()
    client, clock = recorder_groups._client, FakeClock()
    assert isinstance(client, FakeClient)
    recorder_groups._clock = clock
    client.passwords = dict(passwords)
    return recorder_groups, client, clock, cameras


def test_a_password_read_by_the_cameras_device_pass_is_not_read_again_and_a_rotation_goes_out_at_once() -> None:
    """The camera controller reads a camera's Secret on every device pass and hands it over: its first join (just
    after that pass) and the refreshes need no read of their own, and a rotated password the next pass finds is in
    the group's Secret at the next write, at once."""

    async def run() -> None:
        recorder_groups, client, clock, cameras = with_secrets({"a-onvif": "a-old", "b-onvif": "b-password"})
        recorder_groups.credentials_read(("transport", "a"), MemberCredentials("viewer", "a-old"))
        for name in ("a", "b"):
            await join(recorder_groups, cameras, name)
        assert await recorder_groups.write(PKEY) == recording_groups_module.CREDENTIALS_CHECK_SECONDS
        assert client.reads == 1, "a's Secret read again although its device pass had just read it"
        assert secret_data(client.secrets[-1])["a.password"] == "a-old"

        # a's password is rotated; its next device pass reads the new one: written now, with no read of ours.
        clock.advance(100)
        recorder_groups.queue.discard(PKEY)  # as the queue's worker leaves it: due at the next check
        recorder_groups.queue.schedule(PKEY, clock.monotonic() + 50)
        recorder_groups.credentials_read(("transport", "a"), MemberCredentials("viewer", "a-new"))
        assert recorder_groups.queue.due_time(PKEY) == clock.monotonic(), "the rotation waits for a later check"
        await recorder_groups.write(PKEY)
        data = secret_data(client.secrets[-1])
        assert (data["a.password"], data["b.password"]) == ("a-new", "b-password")
        assert (len(client.secrets), client.reads) == (2, 1)
        # The same credentials read again by the next pass write nothing.
        recorder_groups.credentials_read(("transport", "a"), MemberCredentials("viewer", "a-new"))
        await recorder_groups.write(PKEY)
        assert len(client.secrets) == 2

    asyncio.run(run())


def test_credentials_no_device_pass_has_read_for_the_refresh_age_are_read_again() -> None:
    """A member whose device passes do not read its Secret (its endpoint refused by --device-network, say)
    still gets a rotated password: the policy's members are looked over every CREDENTIALS_CHECK_SECONDS and
    whatever is older than CREDENTIALS_REFRESH_SECONDS is read again; what passes keep fresh is not."""

    async def run() -> None:
        recorder_groups, client, clock, cameras = with_secrets({"a-onvif": "a-old", "b-onvif": "b-password"})
        check = recording_groups_module.CREDENTIALS_CHECK_SECONDS
        refresh = recording_groups_module.CREDENTIALS_REFRESH_SECONDS
        for name in ("a", "b"):
            await join(recorder_groups, cameras, name)
        assert await recorder_groups.write(PKEY) == check
        assert (len(client.secrets), client.reads) == (1, 2)

        # Within the refresh age a check reads nothing; joins in between do not put the checks off.
        client.passwords["a-onvif"] = "a-new"
        clock.advance(check)
        assert await recorder_groups.write(PKEY) == check
        assert client.reads == 2
        clock.advance(refresh - 2 * check - 10)
        recorder_groups.credentials_read(("transport", "b"), MemberCredentials("viewer", "b-password"))
        await join(recorder_groups, cameras, "c")
        clock.advance(10)
        await recorder_groups.write(PKEY)
        assert secret_data(client.secrets[-1])["a.password"] == "a-old"
        reads = client.reads
        # Past the refresh age: a (which no pass read) is read again and its new password written; b's pass was
        # recent, so b is not read.
        clock.advance(check)
        assert await recorder_groups.write(PKEY) == check
        assert client.reads == reads + 1
        data = secret_data(client.secrets[-1])
        assert (data["a.password"], data["b.password"]) == ("a-new", "b-password")

    asyncio.run(run())


def test_a_restarted_process_leaves_the_members_secrets_to_their_first_device_passes() -> None:
    """A restart passes every camera (each pass reads its Secret and hands it over): the checks of the first
    CREDENTIALS_REFRESH_SECONDS read no member's Secret a second time; a member no pass has read by then is read."""

    async def run() -> None:
        first, written, cameras = setup()
        assert isinstance(first._client, FakeClient)
        first._client.passwords = {"a-onvif": "a-password", "b-onvif": "b-password"}
        for name in ("a", "b"):
            await join(first, cameras, name)
        await first.write(PKEY)
        deployment = rolled_out(next(m for m in written.manifests if m["kind"] == "Deployment"))

        restarted, client, clock, _ = with_secrets(first._client.passwords)
        restarted._cameras = cameras
        restarted.deployment_changed(deployment, deleted=False)  # learned from the listing at start
        check = recording_groups_module.CREDENTIALS_CHECK_SECONDS
        refresh = recording_groups_module.CREDENTIALS_REFRESH_SECONDS
        while clock.monotonic() < refresh - check:
            if clock.monotonic() % 300 == 0:  # a's device passes, every resync
                restarted.credentials_read(("transport", "a"), MemberCredentials("viewer", "a-password"))
            await restarted.write(PKEY)
            clock.advance(check)
        assert client.reads == 0, "a member was read again before its first pass could have read it"
        clock.advance(check)
        await restarted.write(PKEY)
        assert client.reads == 1, "b, which no pass read, is read once the refresh age has passed since the start"
        assert client.secrets == [], "nothing changed: no write"

    asyncio.run(run())


def test_a_group_written_before_the_restarted_process_knows_all_its_members_keeps_recording_them() -> None:
    """Just after a start the process's camera listing may still be under way when a known member's pass writes
    its group: a member not in the store yet was written `retain` without credentials, and the group's pod stopped
    recording it until it was listed (every group's Secret was written at a restart of 2,000 cameras, some twice).
    Now such a member is read from the API server; one the API server does not have is gone."""

    async def run() -> None:
        first, written, cameras = setup()
        assert isinstance(first._client, FakeClient)
        first._client.passwords = {"a-onvif": "a-password", "b-onvif": "b-password", "c-onvif": "c-password"}
        for name in ("a", "b", "c"):
            await join(first, cameras, name)
        await first.write(PKEY)
        before = secret_data(first._client.secrets[-1])
        deployment = rolled_out(next(m for m in written.manifests if m["kind"] == "Deployment"))

        restarted, client, _, _ = with_secrets(first._client.passwords)
        restarted.deployment_changed(deployment, deleted=False)  # learned at start; only a is listed so far
        client.cameras = {"b": camera_body("b")}  # c was deleted while no operator ran
        await join(restarted, restarted._cameras, "a")  # its own pass: the group is written again
        await restarted.write(PKEY)
        data = secret_data(client.secrets[-1])
        modes = {m["camera"]: m["mode"] for m in json.loads(data["members.json"])}
        assert modes == {"a": "record", "b": "record", "c": "retain"}
        assert data["b.password"] == before["b.password"], "b, not listed yet, lost its credentials"
        assert "c.password" not in data
        assert sorted(client.camera_reads) == ["b", "c"]

    asyncio.run(run())


def test_only_grouped_cameras_passwords_are_kept_and_none_once_the_camera_is_gone_or_recorded_alone() -> None:
    """What the device passes hand over is kept only for cameras a grouped policy records (their group's Secret
    needs it); a camera recorded alone, deleted, or whose policy stopped grouping leaves no password here."""

    async def run() -> None:
        cameras = CameraStore()
        controller = RecordingController(
            FakeClient(), EventRecorder(FakeClient()), cameras,  # type: ignore[arg-type]
            RecordingSettings(workloads.RecorderSettings()), FakeClock(), lambda key, state: None,
        )  # fmt: skip
        kept = controller._groups._credentials
        key = ("transport", "a")
        cameras.put(camera_body("a"))
        controller.credentials_read(key, Credentials("viewer", "a-password"))
        assert key not in kept, "a camera no grouped policy records had its password kept"

        grouped = POLICY.model_dump(by_alias=True, exclude_none=True)
        controller.policy_changed(grouped, deleted=False)
        controller.credentials_read(key, Credentials("viewer", "a-password"))
        assert kept[key] == MemberCredentials("viewer", "a-password")
        alone = copy.deepcopy(grouped)
        alone["spec"]["camerasPerRecorder"] = 1
        controller.policy_changed(alone, deleted=False)
        controller.credentials_read(key, Credentials("viewer", "a-password"))
        assert key not in kept

        controller.policy_changed(grouped, deleted=False)
        controller.credentials_read(key, Credentials("viewer", "a-password"))
        cameras.remove(key)
        controller.camera_changed(key, None)
        assert key not in kept

    asyncio.run(run())


def test_a_member_whose_secret_is_missing_records_without_credentials_and_the_others_keep_theirs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> None:
        recorder_groups, _, cameras = setup()
        client = recorder_groups._client
        assert isinstance(client, FakeClient)
        client.passwords = {"a-onvif": "a-password"}
        for name in ("a", "b"):
            await join(recorder_groups, cameras, name)
        await recorder_groups.write(PKEY)
        data = secret_data(client.secrets[-1])
        assert sorted(data) == ["a.password", "a.username", "members.json"]
        assert [m["mode"] for m in json.loads(data["members.json"])] == ["record", "record"]

    asyncio.run(run())
    assert "Secret transport/b-onvif not found" in caplog.text
    assert "a-password" not in caplog.text


def test_a_group_turning_ready_is_told_to_its_members_before_a_backlog_of_other_cameras() -> None:
    """At a fleet's start the recording queue holds thousands of cameras (new ones, new streams); a member whose
    group's pod just became ready must not wait behind them to hear it (it would show RecorderNotReady meanwhile)."""

    async def run() -> None:
        recorder_groups, written, cameras = setup()
        await join(recorder_groups, cameras, "a")
        await recorder_groups.write(PKEY)
        deployment = rolled_out(written.manifests[-1], generation=1)
        clock, verdicts = FakeClock(), []
        controller = RecordingController(
            FakeClient(), EventRecorder(FakeClient()), cameras,  # type: ignore[arg-type]
            RecordingSettings(workloads.RecorderSettings()), clock, lambda key, state: verdicts.append(key),
        )  # fmt: skip
        for name in ("x", "y", "z"):  # a backlog, due already
            cameras.put(camera_body(name))
            controller.camera_changed(("transport", name), cameras.get(("transport", name)))
        clock.advance(5.0)
        controller.group_changed(deployment, deleted=False)
        queue = controller._queue
        assert [queue.pop_due() for _ in range(5)] == [("transport", "a"), *[("transport", n) for n in "xyz"], None]

    asyncio.run(run())


def test_policies_are_parsed_once_per_resource_version_and_a_new_version_is_judged_anew() -> None:
    """Every camera's reconcile judges every policy of its namespace: each is parsed once per resourceVersion,
    and a changed policy (a new resourceVersion) is what the next camera is judged by."""
    controller = RecordingController(
        FakeClient(), EventRecorder(FakeClient()), CameraStore(),  # type: ignore[arg-type]
        RecordingSettings(workloads.RecorderSettings()), FakeClock(), lambda key, state: None,
    )  # fmt: skip
    grouped = POLICY.model_dump(by_alias=True, exclude_none=True)
    grouped["metadata"]["resourceVersion"] = "7"
    controller.policy_changed(grouped, deleted=False)
    first = controller._policies_in("transport")
    assert controller._policies_in("transport")[0] is first[0], "the same version was parsed again"
    assert controller.grouping_policy("transport", {}, None) == "city"

    alone = copy.deepcopy(grouped)
    alone["metadata"]["resourceVersion"] = "8"
    alone["spec"]["camerasPerRecorder"] = 1
    controller.policy_changed(alone, deleted=False)
    assert controller.grouping_policy("transport", {}, None) is None
    controller.policy_changed(alone, deleted=True)
    assert controller._policies_in("transport") == []
