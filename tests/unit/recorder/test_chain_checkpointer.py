"""The operator's chain checkpointer: when it writes, when it calls a chain rewritten, what the ConfigMap holds.

The pure rules are tested directly; the controller runs with a FakeClock, the recorder's real HTTP app
(recorder/http.py) serving a head the test moves, and a stand-in API client that records each write.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from camfleet.access.tokens import SigningKeys
from camfleet.active_gate import ActiveGate
from camfleet.clock import FakeClock
from camfleet.controllers import checkpoints
from camfleet.controllers.checkpoints import (
    ChainCheckpointer,
    Head,
    Judgement,
    Ledger,
    judge,
    ledger_data,
    ledger_manifest,
    next_ledger,
    parse_head,
    read_ledger,
)
from camfleet.kube.store import CameraStore
from camfleet.recorder_pod.checkpoint import CONTRADICTED_KEY, LATEST_KEY, anchors, sign
from camfleet.recorder_pod.http import make_app
from camfleet.recorder_pod.metrics import RecorderMetrics

KEYS = SigningKeys.generate(datetime(2026, 1, 1, tzinfo=UTC))
KEY = ("city-a", "gate-2")


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def signed(seq: int, head: str, time: str = "2026-01-01T00:00:00Z", keys: SigningKeys = KEYS) -> Any:
    return sign("city-a/gate-2", seq, head, time, keys.active.kid, keys.active.private_key)


def ledger_of(*heads: tuple[int, str]) -> Ledger:
    ledger = Ledger()
    for seq, head in heads:
        ledger = next_ledger(ledger, signed(seq, head), Judgement(True))
    return ledger


# -- when to write ---------------------------------------------------------------------------------------------


def test_the_first_head_is_written() -> None:
    assert judge(Ledger(), Head(3, h("3"))) == Judgement(write=True)


def test_an_unchanged_head_writes_nothing() -> None:
    assert judge(ledger_of((3, h("3"))), Head(3, h("3"))) == Judgement(write=False)


def test_a_head_that_moved_on_is_written_and_is_no_rewrite() -> None:
    assert judge(ledger_of((3, h("3"))), Head(5, h("5"))) == Judgement(write=True)


# -- when a rewrite is detected --------------------------------------------------------------------------------


def test_a_head_that_went_back_is_a_rewrite_naming_the_cut_off_lines() -> None:
    judgement = judge(ledger_of((3, h("3")), (7, h("7"))), Head(4, h("4")))
    assert judgement.write
    assert "went back from line 7" in judgement.rewritten
    assert "lines 5-7 were cut off" in judgement.rewritten


def test_a_new_hash_at_the_latest_line_is_a_rewrite() -> None:
    judgement = judge(ledger_of((7, h("7"))), Head(7, h("other")))
    assert judgement.write
    assert "line 7 now has hash" in judgement.rewritten


def test_a_new_hash_at_a_line_in_the_history_is_a_rewrite() -> None:
    """The recorder restarted on a rebuilt chain that has grown back to a line checkpointed earlier."""
    ledger = ledger_of((3, h("3")), (5, h("5")), (7, h("7")))
    ledger = Ledger(ledger.latest, (*ledger.history[:2], signed(9, h("9"))), ())  # latest is line 9
    assert judge(ledger, Head(5, h("rebuilt"))).rewritten  # went back below 9
    grown = Ledger(signed(5, h("5")), (signed(3, h("3")), signed(5, h("5"))), ())
    assert "line 5 now has hash" in judge(grown, Head(5, h("rebuilt"))).rewritten
    assert not judge(grown, Head(6, h("6"))).rewritten  # a line never checkpointed: nothing to compare


def test_a_chain_grown_past_the_signed_line_with_another_hash_there_is_a_rewrite() -> None:
    """Only `/chain?seq=N` sees this: the restarted recorder adopted its orphaned segments and recorded on."""
    ledger = ledger_of((7, h("7")))
    judgement = judge(ledger, Head(9, h("9"), at=(7, h("rebuilt-7"))))
    assert "line 7 now has hash" in judgement.rewritten
    assert "the chain now ends at line 9" in judgement.rewritten
    assert judge(ledger, Head(9, h("9"), at=(7, h("7")))) == Judgement(write=True)
    assert judge(ledger, Head(9, h("9"), at=(7, None))) == Judgement(write=True)  # too old for the recorder


def test_a_rewrite_keeps_the_contradicted_checkpoint_and_starts_the_history_over() -> None:
    ledger = ledger_of((3, h("3")), (7, h("7")))
    new = signed(4, h("4"))
    after = next_ledger(ledger, new, judge(ledger, Head(4, h("4"))))
    assert after.latest == new
    assert after.history == (new,)
    assert [c.seq for c in after.contradicted] == [7]
    # and the next poll of the rebuilt chain is judged against it, not against the old line 7 again
    assert judge(after, Head(5, h("5"))) == Judgement(write=True)


def test_the_history_is_bounded() -> None:
    ledger = Ledger()
    for seq in range(1, checkpoints.HISTORY_ENTRIES + 20):
        ledger = next_ledger(ledger, signed(seq, h(str(seq))), Judgement(True))
    assert len(ledger.history) == checkpoints.HISTORY_ENTRIES
    assert ledger.history[-1] == ledger.latest


# -- the ConfigMap ---------------------------------------------------------------------------------------------


def test_the_ledger_reads_back_and_drops_entries_the_operator_did_not_sign() -> None:
    stranger = SigningKeys.generate(datetime(2026, 1, 1, tzinfo=UTC))
    ledger = Ledger(signed(7, h("7")), (signed(5, h("5")), signed(7, h("7"))), (signed(9, h("9"), keys=stranger),))
    data = ledger_data(ledger)
    assert read_ledger(data) == ledger
    trusted = read_ledger(data, KEYS)
    assert trusted.latest == ledger.latest
    assert trusted.history == ledger.history
    assert trusted.contradicted == ()


def test_verify_anchors_are_every_contradicted_checkpoint_then_the_latest() -> None:
    ledger = Ledger(signed(4, h("4")), (signed(4, h("4")),), (signed(7, h("7")),))
    assert [c.seq for c in anchors(ledger_data(ledger))] == [7, 4]


def test_the_configmap_belongs_to_the_retention_volume_not_the_camera() -> None:
    volume = {"metadata": {"name": "gate-2-recordings", "uid": "pvc-uid"}}
    manifest = ledger_manifest(KEY, ledger_of((3, h("3"))), "camera-uid", volume)
    assert manifest["metadata"]["name"] == "gate-2-chain"
    assert manifest["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": "gate-2-recordings", "uid": "pvc-uid"}
    ]
    assert manifest["metadata"]["labels"]["app.kubernetes.io/component"] == "chain-checkpoint"
    assert manifest["metadata"]["annotations"]["camfleet.io/owner-uid"] == "camera-uid"


@pytest.mark.parametrize(
    "body", [{"seq": 2}, {"seq": -1, "head": h("x")}, {"seq": 2, "head": "short"}, [], {"seq": True, "head": h("x")}]
)
def test_a_malformed_chain_answer_is_refused(body: Any) -> None:
    with pytest.raises(ValueError, match=r"JSON object|seq and head|sha256"):
        parse_head(body)


def test_an_empty_chain_has_nothing_to_checkpoint() -> None:
    assert parse_head({"seq": 0, "head": "0" * 64}) is None


# -- the controller with a FakeClock ---------------------------------------------------------------------------


class FakeApi:
    """What the checkpointer calls on lightkube: get (nothing stored yet) and apply (recorded)."""

    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []

    async def get(self, resource: Any, name: str, namespace: str | None = None) -> Any:
        return None

    async def apply(self, obj: Any, field_manager: str, force: bool) -> Any:
        self.applied.append(obj.to_dict())
        return obj


class FakeEvents:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str]] = []

    async def record(self, body: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.posted.append((type_, reason, message))


@contextlib.asynccontextmanager
async def recorder_serving(head: dict[str, Any]) -> AsyncIterator[int]:
    def chain(seq: int | None) -> dict[str, Any]:
        asked = {"at": {"seq": seq, "head": head.get("lines", {}).get(seq)}} if seq is not None else {}
        return {"seq": head["seq"], "head": head["head"], **asked}

    app = make_app(RecorderMetrics(), lambda: (True, "recording"), chain)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield port
    finally:
        await runner.cleanup()


def deployment() -> dict[str, Any]:
    return {
        "metadata": {
            "name": "gate-2-recorder",
            "namespace": "city-a",
            "labels": {"camfleet.io/camera": "gate-2"},
            "ownerReferences": [{"kind": "Camera", "name": "gate-2", "uid": "u"}],
        }
    }


def pod(phase: str = "Running") -> dict[str, Any]:
    return {
        "metadata": {"name": "gate-2-recorder-abc", "namespace": "city-a", "labels": {"camfleet.io/camera": "gate-2"}},
        "status": {"phase": phase, "podIP": "127.0.0.1"},
    }


async def settle(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the checkpointer did not act")


async def test_the_checkpointer_writes_once_a_minute_only_when_the_head_moved_and_reports_a_rewrite() -> None:
    clock, api, events = FakeClock(), FakeApi(), FakeEvents()
    head = {"seq": 3, "head": h("3")}
    async with recorder_serving(head) as port:
        checkpointer = ChainCheckpointer(api, events, CameraStore(), KEYS, clock, interval=60, port=port)  # type: ignore[arg-type]
        checkpointer.recorder_changed(deployment(), deleted=False)
        checkpointer.pod_changed(pod(), deleted=False)
        task = asyncio.create_task(checkpointer.run(ActiveGate()))
        try:
            await settle(lambda: len(api.applied) == 1)
            latest = json.loads(api.applied[0]["data"][LATEST_KEY])
            assert (latest["seq"], latest["head"], latest["keyId"]) == (3, h("3"), KEYS.active.kid)

            clock.advance(59)  # not yet a minute
            await asyncio.sleep(0.1)
            clock.advance(1)  # a minute, head unchanged: no write
            await asyncio.sleep(0.1)
            assert len(api.applied) == 1

            head.update(seq=5, head=h("5"))
            clock.advance(60)
            await settle(lambda: len(api.applied) == 2)
            assert events.posted == []

            head.update(seq=6, head=h("6"), lines={5: h("rebuilt-5")})  # restarted on a rebuilt chain, grown past 5
            clock.advance(60)
            await settle(lambda: len(api.applied) == 3)
            assert "line 5 now has hash" in events.posted[-1][2]
            head.update(seq=4, head=h("rebuilt-4"))  # and once more, on a shorter chain
            clock.advance(60)
            await settle(lambda: len(api.applied) == 4)
            await settle(lambda: len(events.posted) == 2)
            assert [posted[:2] for posted in events.posted] == [("Warning", "ChainRewritten")] * 2
            assert "went back from line 6" in events.posted[1][2]
            data = api.applied[3]["data"]
            assert [json.loads(line)["seq"] for line in data[CONTRADICTED_KEY].splitlines()] == [5, 6]

            clock.advance(60)  # the rebuilt chain, unchanged: no write, no further report
            await asyncio.sleep(0.1)
            assert len(api.applied) == 4
            assert len(events.posted) == 2
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_a_recorder_whose_pod_is_not_running_is_not_polled_and_a_deleted_recorder_is_forgotten() -> None:
    clock, api, events = FakeClock(), FakeApi(), FakeEvents()
    checkpointer = ChainCheckpointer(api, events, CameraStore(), KEYS, clock)  # type: ignore[arg-type]
    checkpointer.recorder_changed(deployment(), deleted=False)
    checkpointer.pod_changed(pod("Pending"), deleted=False)
    assert await checkpointer.checkpoint(KEY) == 60  # nowhere to ask yet: try again in a minute
    checkpointer.recorder_changed(deployment(), deleted=True)
    assert await checkpointer.checkpoint(KEY) is None
    assert api.applied == []  # nothing written


class PodStopsDuringRead(FakeApi):
    """The recorder's pod stops while the checkpointer reads its ledger (a group pod restarted by Recreate)."""

    def __init__(self, stop: Any) -> None:
        super().__init__()
        self.stop = stop

    async def get(self, resource: Any, name: str, namespace: str | None = None) -> Any:
        self.stop()
        return None


async def test_a_pod_that_stops_while_the_ledger_is_read_is_asked_again_later_not_an_error() -> None:
    clock, events = FakeClock(), FakeEvents()
    checkpointer: ChainCheckpointer
    api = PodStopsDuringRead(lambda: checkpointer.pod_changed(pod("Running"), deleted=True))
    checkpointer = ChainCheckpointer(api, events, CameraStore(), KEYS, clock)  # type: ignore[arg-type]
    checkpointer.recorder_changed(deployment(), deleted=False)
    checkpointer.pod_changed(pod(), deleted=False)
    assert await checkpointer.checkpoint(KEY) == 60  # no TypeError from a recorder without an address
    assert api.applied == []
    assert events.posted == []
