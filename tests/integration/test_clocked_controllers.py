"""Expiry, approval due dates (R11) and retention (R3/R4) on a fake clock, against the real control plane.

The real controllers run in this process with a `FakeClock` and a real lightkube client on the session
cluster; no operator process runs. Time moves only by `advance()`, which wakes the controllers' queues at
once, so a grant that ends in an hour, an answer due in three working days and a volume kept for thirty
days are all checked in well under a second of real time each (the real-time tests in test_access.py and
test_recording.py check the same behaviour with the operator process and real seconds).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import yaml
from lightkube import AsyncClient, KubeConfig
from lightkube.resources.core_v1 import Event, PersistentVolumeClaim, Secret
from prometheus_client import REGISTRY

from camfleet.access.city_time import DEFAULT_CALENDAR
from camfleet.access.decision_inputs import CameraFacts
from camfleet.access.lifecycle import approval_due
from camfleet.access.tokens import SigningKeys
from camfleet.active_gate import ActiveGate
from camfleet.api.camera import Camera
from camfleet.api.sharing_grant import Permission
from camfleet.clock import FakeClock
from camfleet.config import FIELD_MANAGER
from camfleet.controllers.credentials import GrantCredentials, access_secret_name
from camfleet.controllers.grants import GrantController
from camfleet.controllers.retention import RetentionJanitor
from camfleet.devcluster.cluster import LocalCluster
from camfleet.gateway.service import Gateway
from camfleet.gateway.sessions import TerminationReport
from camfleet.gateway.state import AccessState, Outcome
from camfleet.kube.apply import get_or_none
from camfleet.kube.events import EventRecorder
from camfleet.kube.resources import RESOURCES
from camfleet.kube.store import ApprovalStore, CameraStore, key_of
from tests.integration.manifests import GRANT_APPLICATION, unreachable_camera

T = TypeVar("T")
CLOCKED_BUDGET_SECONDS = 1.0


@pytest.fixture
def departments(cluster: LocalCluster, crds_installed: None) -> Iterator[tuple[str, str]]:
    """An owner department with an Unconditional and a Conditional camera, and a grantee department."""
    suffix = uuid.uuid4().hex[:6]
    owner, grantee = f"owner-{suffix}", f"grantee-{suffix}"
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": owner}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": grantee}},
    ]
    objects += [unreachable_camera(owner, "street", "Unconditional"), unreachable_camera(owner, "plaza", "Conditional")]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    yield owner, grantee
    cluster.kubectl("delete", "namespace", owner, grantee, "--wait=false", check=False)


@pytest.fixture
async def kube(cluster: LocalCluster) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(KubeConfig.from_file(str(cluster.kubeconfig)), field_manager=FIELD_MANAGER)
    yield client
    await client.close()


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, within: float = CLOCKED_BUDGET_SECONDS) -> T:
    """Poll `probe` until it returns something truthy; the controllers work in the background."""
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:.1f}s of real time")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(loop: Awaitable[None]) -> AsyncIterator[None]:
    task = asyncio.ensure_future(loop)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def body_of(client: AsyncClient, kind: str, name: str, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get(RESOURCES[kind], name, namespace=namespace)).to_dict()
    return found


def condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


async def event_reasons(client: AsyncClient, namespace: str, name: str) -> list[str]:
    return [
        str(event.reason)
        async for event in client.list(Event, namespace=namespace)
        if event.involvedObject.name == name
    ]


def sessions_ended(result: str) -> float:
    return REGISTRY.get_sample_value("camfleet_gateway_sessions_ended_total", {"result": result}) or 0.0


class OneViewer:
    """A media gateway with one live viewer on every grant it is asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def session_opened(self, session_id: str, grant_id: str) -> None:
        pass

    async def end_sessions(self, grant_id: str, cameras: Collection[str] = (), **_: object) -> TerminationReport:
        self.asked.append(grant_id)
        return TerminationReport(ended=(f"viewer-of-{grant_id}",))


class Grants:
    """The grant controller as the operator wires it, on a fake clock: store, credentials, gateway."""

    def __init__(self, client: AsyncClient, clock: FakeClock, owner: str) -> None:
        self.client, self.clock, self.owner = client, clock, owner
        keys = SigningKeys.generate(clock.now() - timedelta(days=1))
        self.state = AccessState(keys, DEFAULT_CALENDAR)
        self.viewer = OneViewer()
        self.gateway = Gateway(self.state, terminator=self.viewer, audit_decisions=False)
        self.cameras = CameraStore()
        credentials = GrantCredentials(client, self.gateway, keys, clock)
        self.controller = GrantController(
            client, EventRecorder(client), self.cameras, ApprovalStore(), credentials, DEFAULT_CALENDAR, clock
        )

    async def know_cameras(self) -> None:
        for name in ("street", "plaza"):
            body = await body_of(self.client, "Camera", name, self.owner)
            self.cameras.put(body)
            self.cameras.notify(key_of(body))
            self.state.set_camera(CameraFacts.from_resource(Camera.model_validate(body)))

    async def request(
        self, grantee: str, name: str, camera: str, start: datetime, end: datetime, **spec: Any
    ) -> dict[str, Any]:
        manifest = {
            "apiVersion": "camfleet.io/v1alpha1",
            "kind": "SharingGrant",
            "metadata": {"name": name, "namespace": grantee},
            "spec": {
                "cameras": {"namespace": self.owner, "names": [camera]},
                "permissions": ["LiveView"],
                "period": {"start": start.isoformat(), "end": end.isoformat()},
                "purpose": "Plan pedestrian crossings",
                **spec,
            },
        }
        created: dict[str, Any] = (await self.client.create(RESOURCES["SharingGrant"].from_dict(manifest))).to_dict()
        self.controller.grant_changed(created)
        return created

    def serve(self) -> contextlib.AbstractAsyncContextManager[None]:
        return running(self.controller.run(ActiveGate(), [self.owner]))


async def test_an_expiring_grant_is_revoked_when_the_fake_clock_passes_its_end(
    kube: AsyncClient, departments: tuple[str, str]
) -> None:
    owner, grantee = departments
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    grants = Grants(kube, clock, owner)
    await grants.know_cameras()
    end = clock.now() + timedelta(hours=1)
    grant = await grants.request(
        grantee, "street-view", "street", clock.now() - timedelta(minutes=1), end, shareClass="Unconditional"
    )
    uid = grant["metadata"]["uid"]
    secret = access_secret_name("street-view")

    async with grants.serve():

        async def token() -> str | None:
            found = await get_or_none(kube, Secret, secret, grantee)
            return str(found.data["token"]) if found is not None and found.data else None

        async def active() -> bool:
            return (
                condition(await body_of(kube, "SharingGrant", "street-view", grantee), "Active").get("status") == "True"
            )

        await eventually(token, "token Secret issued", within=10)
        await eventually(active, "grant Active", within=10)
        issued = base64.b64decode(await token() or "").decode()
        before_expiry = clock.now()
        assert grants.gateway.decide(f"{owner}/street", Permission.LIVE_VIEW, before_expiry, token=issued).allowed
        ended_before = sessions_ended("ended")

        started = time.monotonic()
        clock.advance(timedelta(minutes=59, seconds=59).total_seconds())  # one second before the end: nothing moves
        await asyncio.sleep(0.05)
        assert await get_or_none(kube, Secret, secret, grantee) is not None

        clock.advance(1)  # the end
        await eventually(lambda: _absent(kube, secret, grantee), "token Secret deleted at expiry")
        refused = grants.gateway.decide(f"{owner}/street", Permission.LIVE_VIEW, before_expiry, token=issued)
        assert refused.outcome is Outcome.REVOKED, "a copied token must stop working too"
        assert grants.viewer.asked == [uid]
        assert sessions_ended("ended") == ended_before + 1

        clock.advance(1)  # the status pass follows the revocation (STATUS_AFTER_REVOCATION)

        async def expired() -> dict[str, Any] | None:
            body = await body_of(kube, "SharingGrant", "street-view", grantee)
            return body if condition(body, "Expired").get("status") == "True" else None

        body = await eventually(expired, "status Expired")
        reasons = await eventually(lambda: _reasons_with(kube, grantee, "street-view", "Expired"), "Expired Event")
        elapsed = time.monotonic() - started

    assert condition(body, "Active")["status"] == "False"
    assert condition(body, "Active")["reason"] == "Expired"
    assert body["status"]["history"][-1]["decision"] == "Expired"
    assert "Expired" in reasons
    print(f"\nclocked part (1 hour of grant time): {elapsed:.3f}s real")
    assert elapsed < CLOCKED_BUDGET_SECONDS


async def test_an_unanswered_grant_is_overdue_after_three_working_days_on_the_fake_clock(
    kube: AsyncClient, departments: tuple[str, str]
) -> None:
    owner, grantee = departments
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    grants = Grants(kube, clock, owner)
    await grants.know_cameras()
    grant = await grants.request(
        grantee,
        "plaza-study",
        "plaza",
        clock.now() + timedelta(days=20),
        clock.now() + timedelta(days=40),
        shareClass="Conditional",
        application=GRANT_APPLICATION,
    )
    requested = datetime.fromisoformat(grant["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    due = approval_due(requested, DEFAULT_CALENDAR)
    assert due - clock.now() >= timedelta(days=3), "three working days are at least three days"

    async with grants.serve():

        async def approved_condition() -> dict[str, Any] | None:
            body = await body_of(kube, "SharingGrant", "plaza-study", grantee)
            return body if condition(body, "Approved").get("reason") else None

        body = await eventually(approved_condition, "status Pending", within=10)
        assert condition(body, "Approved")["reason"] == "Pending"
        assert datetime.fromisoformat(body["status"]["approvalDueTime"].replace("Z", "+00:00")) == due

        started = time.monotonic()
        clock.advance((due - clock.now()).total_seconds() - 60)  # a minute before the due time: still Pending
        await asyncio.sleep(0.05)
        body = await body_of(kube, "SharingGrant", "plaza-study", grantee)
        assert condition(body, "Approved")["reason"] == "Pending"
        assert "ApprovalOverdue" not in await event_reasons(kube, grantee, "plaza-study")

        clock.advance(60)  # the due time

        async def overdue() -> dict[str, Any] | None:
            body = await body_of(kube, "SharingGrant", "plaza-study", grantee)
            return body if condition(body, "Approved").get("reason") == "ApprovalOverdue" else None

        body = await eventually(overdue, "Approved condition ApprovalOverdue")
        reasons = await eventually(
            lambda: _reasons_with(kube, grantee, "plaza-study", "ApprovalOverdue"), "ApprovalOverdue Event"
        )
        elapsed = time.monotonic() - started

    assert condition(body, "Approved")["status"] == "Unknown"
    assert condition(body, "Active")["reason"] == "AwaitingApproval"
    assert reasons.count("ApprovalOverdue") == 1, "one Warning, once"
    assert await get_or_none(kube, Secret, access_secret_name("plaza-study"), grantee) is None
    print(f"\nclocked part ({(due - requested).days} days of calendar time): {elapsed:.3f}s real")
    assert elapsed < CLOCKED_BUDGET_SECONDS


def released_volume(namespace: str, name: str, until: datetime, hold: str | None = None) -> dict[str, Any]:
    annotations = {"camfleet.io/retain-until": until.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if hold is not None:
        annotations["camfleet.io/legal-hold"] = hold
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


async def test_the_janitor_destroys_recordings_when_the_fake_clock_passes_retention_but_never_under_hold(
    kube: AsyncClient, cluster: LocalCluster, namespace: str
) -> None:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    janitor = RetentionJanitor(kube, EventRecorder(kube), clock)
    until = clock.now() + timedelta(days=30)
    for manifest in (
        released_volume(namespace, "expiring-recordings", until),
        released_volume(namespace, "evidence-recordings", until, hold="case 2026-114"),
    ):
        created = await kube.create(PersistentVolumeClaim.from_dict(manifest))
        janitor.volume_changed(created.to_dict(), deleted=False)

    async def gone_or_going(name: str) -> bool:
        found = await get_or_none(kube, PersistentVolumeClaim, name, namespace)
        return found is None or bool(found.metadata and found.metadata.deletionTimestamp)

    async with running(janitor.run(ActiveGate())):
        started = time.monotonic()
        clock.advance(timedelta(days=29, hours=23).total_seconds())  # an hour early: R3 keeps both
        await asyncio.sleep(0.05)
        assert not await gone_or_going("expiring-recordings")

        clock.advance(timedelta(hours=1).total_seconds())  # retention passed
        await eventually(lambda: gone_or_going("expiring-recordings"), "expired recordings deleted")
        reasons = await eventually(
            lambda: _reasons_with(kube, namespace, "expiring-recordings", "RecordingsDestroyed"),
            "RecordingsDestroyed Event",
        )
        clock.advance(timedelta(days=365).total_seconds())  # a year later: the legal hold still keeps it
        await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started

    assert reasons.count("RecordingsDestroyed") == 1
    assert not await gone_or_going("evidence-recordings")
    print(f"\nclocked part (a year and 30 days): {elapsed:.3f}s real")
    assert elapsed < CLOCKED_BUDGET_SECONDS
    # The API server finishes the delete once Kubernetes' PVC protection lets go (not the janitor's clock).
    await eventually(
        lambda: _absent_volume(kube, "expiring-recordings", namespace), "expired volume removed", within=30
    )


async def _absent(client: AsyncClient, secret: str, namespace: str) -> bool:
    return await get_or_none(client, Secret, secret, namespace) is None


async def _absent_volume(client: AsyncClient, name: str, namespace: str) -> bool:
    return await get_or_none(client, PersistentVolumeClaim, name, namespace) is None


async def _reasons_with(client: AsyncClient, namespace: str, name: str, reason: str) -> list[str] | None:
    reasons = await event_reasons(client, namespace, name)
    return reasons if reason in reasons else None
