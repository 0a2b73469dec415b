"""The chain checkpointer for grouped cameras: `/chains` of the group pod (one request per group a minute), signed
per camera, and whether the group records each camera handed to the recording controller (a group pod stays Ready
when one camera fails)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web

from camfleet.active_gate import ActiveGate
from camfleet.clock import FakeClock
from camfleet.controllers.checkpoints import ChainCheckpointer
from camfleet.kube.store import CameraStore
from camfleet.recorder_pod.checkpoint import LATEST_KEY
from camfleet.recorder_pod.http import make_app
from camfleet.recorder_pod.metrics import RecorderMetrics
from camfleet.recording import groups
from camfleet.recording.groups import Member, MemberMode
from camfleet.recording.state import STREAM_NOT_RECORDED, member_problem
from tests.unit.recorder.test_chain_checkpointer import KEYS, FakeApi, FakeEvents, h, settle

CHAINS = {
    "lobby": {"seq": 4, "head": h("lobby-4"), "recording": True},
    "gate": {"seq": 0, "head": h("genesis"), "recording": False},
}


@contextlib.asynccontextmanager
async def group_serving(requests: list[str]) -> AsyncIterator[int]:
    """The recorder's own HTTP app (recorder_pod/http.py) as a group pod serves it; `requests` gets each path."""

    def chains(asked: Mapping[str, int]) -> dict[str, dict[str, Any]]:
        return {camera: {**chain, "at": {"seq": asked[camera], "head": None}} if camera in asked else chain
                for camera, chain in CHAINS.items()}  # fmt: skip

    @web.middleware
    async def seen(request: web.Request, handler: Any) -> web.StreamResponse:
        requests.append(request.path_qs)
        return await handler(request)

    app = make_app(RecorderMetrics(), lambda: (True, "recording"), member_chains=chains)
    app.middlewares.append(seen)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def group_deployment() -> dict[str, Any]:
    members = (Member("lobby", "u1"), Member("gate", "u2"))
    return {
        "metadata": {
            "name": "city-rg-0",
            "namespace": "city-a",
            "labels": {groups.GROUP_LABEL: "city-rg-0"},
            "annotations": {groups.MEMBERS_ANNOTATION: groups.members_annotation(members)},
        }
    }


def group_pod() -> dict[str, Any]:
    return {
        "metadata": {"name": "city-rg-0-abc", "namespace": "city-a", "labels": {groups.GROUP_LABEL: "city-rg-0"}},
        "status": {"phase": "Running", "podIP": "127.0.0.1"},
    }


async def test_each_member_is_checkpointed_from_its_own_chain_with_one_request_per_group_and_poll() -> None:
    clock, api, events = FakeClock(), FakeApi(), FakeEvents()
    reported: dict[tuple[str, str], bool] = {}
    requests: list[str] = []
    async with group_serving(requests) as port:
        checkpointer = ChainCheckpointer(
            api, events, CameraStore(), KEYS, clock, port=port,  # type: ignore[arg-type]
            member_recording=lambda key, recording: reported.__setitem__(key, recording),
        )  # fmt: skip
        checkpointer.group_changed(group_deployment(), deleted=False)
        checkpointer.group_pod_changed(group_pod(), deleted=False)
        task = asyncio.create_task(checkpointer.run(ActiveGate()))
        try:
            await settle(lambda: len(api.applied) == 1 and len(reported) == 2)
            CHAINS["lobby"] = {"seq": 5, "head": h("lobby-5"), "recording": True}
            clock.advance(60)
            await settle(lambda: len(api.applied) == 2)
        finally:
            CHAINS["lobby"] = {"seq": 4, "head": h("lobby-4"), "recording": True}
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    # The recording camera's head is signed into its own checkpoint, owned by the group's volume (none here yet).
    written = api.applied[0]
    assert written["metadata"]["name"] == "lobby-chain"
    latest = json.loads(written["data"][LATEST_KEY])
    assert (latest["seq"], latest["head"]) == (4, h("lobby-4"))
    assert json.loads(api.applied[1]["data"][LATEST_KEY])["seq"] == 5
    assert reported == {("city-a", "lobby"): True, ("city-a", "gate"): False}
    # One request a minute for the whole group (not one per camera), asking for the line last signed of each.
    assert requests == ["/chains", "/chains?at=lobby:4"]


def test_a_member_the_running_group_does_not_record_is_not_recording() -> None:
    problem = member_problem("city-rg-0", "gate", 1, False)
    assert problem is not None
    assert problem[0] == STREAM_NOT_RECORDED
    assert "/chain/gate" in problem[1]
    assert member_problem("city-rg-0", "gate", 1, True) is None
    assert member_problem("city-rg-0", "gate", 1, None) is None  # not asked yet: the group's readiness decides
    assert member_problem("city-rg-0", "gate", 0, False) is None  # the group is not running: RecorderNotReady


async def test_a_retained_member_is_still_checkpointed_and_a_member_dropped_is_forgotten() -> None:
    clock, api = FakeClock(), FakeApi()
    reported: dict[tuple[str, str], bool] = {}
    async with group_serving([]) as port:
        checkpointer = ChainCheckpointer(
            api, FakeEvents(), CameraStore(), KEYS, clock, port=port,  # type: ignore[arg-type]
            member_recording=lambda key, recording: reported.__setitem__(key, recording),
        )  # fmt: skip
        checkpointer.group_changed(group_deployment(), deleted=False)
        fewer = group_deployment()
        retained = (Member("lobby", "u1", MemberMode.RETAIN, None),)
        fewer["metadata"]["annotations"][groups.MEMBERS_ANNOTATION] = json.dumps(
            [
                {"camera": m.camera, "uid": m.uid, "mode": "retain", "retainUntil": "2031-01-01T00:00:00Z"}
                for m in retained
            ]
        )
        checkpointer.group_changed(fewer, deleted=False)
        assert await checkpointer.checkpoint_group(("city-a", "city-rg-0")) == 60  # no pod address yet
        checkpointer.group_pod_changed(group_pod(), deleted=False)
        task = asyncio.create_task(checkpointer.run(ActiveGate()))
        try:
            await settle(lambda: len(api.applied) == 1 and len(reported) == 1)
            await asyncio.sleep(0.1)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    # The pod still serves the dropped camera's chain: it is neither signed nor reported.
    assert [written["metadata"]["name"] for written in api.applied] == ["lobby-chain"]
    assert reported == {("city-a", "lobby"): True}
    checkpointer.group_changed(fewer, deleted=True)
    assert await checkpointer.checkpoint_group(("city-a", "city-rg-0")) is None  # the group is forgotten
