"""The gate follows kopf's own pause decision: kopf's real peering code runs here, the bridge listens to it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import kopf
import pytest
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.structs import references
from kopf._core.engines.peering import Identity, process_peering_event

from camfleet.active_gate import KOPF_PEERING_LOGGER, ActiveGate, follow_kopf_peering
from camfleet.kube.pod_role import ROLE_LABEL, role_patch

OURS = Identity("camfleet-ours")
PEERINGS = references.Resource(group="kopf.dev", version="v1", plural="kopfpeerings", namespaced=True)


@pytest.fixture
def gate() -> Iterator[ActiveGate]:
    peered = ActiveGate(peered=True)
    bridge = follow_kopf_peering(peered)
    yield peered
    logging.getLogger(KOPF_PEERING_LOGGER).removeHandler(bridge)


def peers(*others: tuple[str, int, timedelta]) -> dict[str, dict[str, object]]:
    """The peering object's status: us at priority 100, and others (identity, priority, age of last keep-alive)."""
    now = datetime.now(UTC)
    status: dict[str, dict[str, object]] = {OURS: {"priority": 100, "lifetime": 60, "lastseen": now.isoformat()}}
    for identity, priority, age in others:
        status[identity] = {"priority": priority, "lifetime": 60, "lastseen": (now - age).isoformat()}
    return status


async def kopf_sees(
    toggle: aiotoggles.Toggle, status: dict[str, dict[str, object]], peering: str = "camfleet@city"
) -> None:
    """One pass of kopf's peering logic over a peering object, in a task named as kopf names its worker for it."""
    await asyncio.create_task(_kopf_pass(toggle, status), name=f"worker for {peering}")


async def _kopf_pass(toggle: aiotoggles.Toggle, status: dict[str, dict[str, object]]) -> None:
    settings = kopf.OperatorSettings()
    settings.peering.name = "camfleet"
    settings.peering.priority = 100
    woken = asyncio.Event()
    woken.set()  # kopf would sleep until the blocking peer's deadline; the test does not wait for it
    body = {"metadata": {"name": "camfleet", "namespace": "city"}, "status": status}
    await process_peering_event(
        raw_event={"type": "MODIFIED", "object": body},  # type: ignore[typeddict-item]
        namespace=references.NamespaceName("city"),
        resource=PEERINGS,
        identity=OURS,
        settings=settings,
        autoclean=False,
        stream_pressure=woken,
        conflicts_found=toggle,
    )


def mandatory_peering_toggle() -> aiotoggles.Toggle:
    """kopf's toggle of one peering object under mandatory peering: paused until the first pass says otherwise."""
    return aiotoggles.Toggle(True)


async def test_a_peered_replica_waits_for_kopfs_first_peering_pass(gate: ActiveGate) -> None:
    assert not gate.is_open
    toggle = mandatory_peering_toggle()
    await kopf_sees(toggle, peers())
    assert toggle.is_off()
    assert gate.is_open


async def test_a_standby_started_next_to_a_stronger_peer_never_opens(gate: ActiveGate) -> None:
    toggle = mandatory_peering_toggle()
    await kopf_sees(toggle, peers(("camfleet-active", 200, timedelta(seconds=1))))
    assert toggle.is_on()
    assert not gate.is_open
    await kopf_sees(toggle, peers(("camfleet-active", 200, timedelta(minutes=5))))  # its keep-alive expired
    assert toggle.is_off()
    assert gate.is_open


async def test_the_gate_closes_when_a_stronger_peer_joins_and_opens_when_it_is_gone(gate: ActiveGate) -> None:
    toggle = mandatory_peering_toggle()
    await kopf_sees(toggle, peers())
    await kopf_sees(toggle, peers(("camfleet-new", 200, timedelta(seconds=1))))
    assert toggle.is_on()
    assert not gate.is_open
    await kopf_sees(toggle, peers(("camfleet-new", 200, timedelta(seconds=1))))  # still there: no second turn
    await kopf_sees(toggle, peers(("camfleet-new", 200, timedelta(minutes=5))))
    assert toggle.is_off()
    assert gate.is_open


async def test_a_lower_priority_peer_leaves_the_gate_open(gate: ActiveGate) -> None:
    toggle = mandatory_peering_toggle()
    await kopf_sees(toggle, peers(("camfleet-standby", 50, timedelta(seconds=1))))
    assert toggle.is_off()
    assert gate.is_open


async def test_an_equal_priority_peer_pauses_both_as_kopf_does(gate: ActiveGate) -> None:
    toggle = mandatory_peering_toggle()
    await kopf_sees(toggle, peers())
    await kopf_sees(toggle, peers(("camfleet-twin", 100, timedelta(seconds=1))))
    assert toggle.is_on()
    assert not gate.is_open


async def test_the_gate_stays_closed_while_any_peering_object_keeps_kopf_paused(gate: ActiveGate) -> None:
    east, west = mandatory_peering_toggle(), mandatory_peering_toggle()
    await kopf_sees(east, peers(), peering="camfleet@east")
    await kopf_sees(west, peers(), peering="camfleet@west")
    await kopf_sees(east, peers(("camfleet-new", 200, timedelta(seconds=1))), peering="camfleet@east")
    await kopf_sees(west, peers(("camfleet-new", 200, timedelta(seconds=1))), peering="camfleet@west")
    await kopf_sees(east, peers(), peering="camfleet@east")
    assert not gate.is_open
    await kopf_sees(west, peers(), peering="camfleet@west")
    assert gate.is_open


def test_a_standalone_gate_is_open() -> None:
    assert ActiveGate(peered=False).is_open


async def test_wait_change_returns_on_the_turn() -> None:
    gate = ActiveGate()
    waiter = asyncio.create_task(gate.wait_change(True))
    await asyncio.sleep(0)
    assert not waiter.done()
    gate.pause()
    assert await asyncio.wait_for(waiter, 1) is False


def test_the_pod_label_names_the_role() -> None:
    assert role_patch(True) == {"metadata": {"labels": {ROLE_LABEL: "active"}}}
    assert role_patch(False) == {"metadata": {"labels": {ROLE_LABEL: "standby"}}}
