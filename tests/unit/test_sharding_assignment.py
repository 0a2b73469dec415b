"""Rendezvous assignment of cameras to replicas and the sharder's label changes (issue 20, sharded replicas)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, cast

from camfleet.kube.store import CameraStore
from camfleet.sharding.assignment import DRAIN_LABEL, REPLICA_LABEL, label_change, owner, shard_key
from camfleet.sharding.sharder import Sharder

CAMERAS = [f"district-{index % 7}/camera-{index}" for index in range(6000)]


def owners(members: list[str]) -> dict[str, str | None]:
    return {camera: owner(camera, members) for camera in CAMERAS}


def test_cameras_spread_evenly_over_replicas() -> None:
    counts = Counter(owners(["a", "b", "c"]).values())
    assert set(counts) == {"a", "b", "c"}
    for count in counts.values():
        assert abs(count - 2000) < 200  # within 10% of a third


def test_a_joining_replica_takes_about_one_nth_and_nothing_else_moves() -> None:
    before = owners(["a", "b", "c"])
    after = owners(["a", "b", "c", "d"])
    moved = [camera for camera in CAMERAS if before[camera] != after[camera]]
    assert abs(len(moved) - len(CAMERAS) / 4) < len(CAMERAS) * 0.03
    assert all(after[camera] == "d" for camera in moved)  # only to the newcomer, never between old members


def test_a_dying_replica_hands_only_its_own_cameras_to_the_others() -> None:
    before = owners(["a", "b", "c", "d"])
    after = owners(["a", "b", "d"])
    moved = [camera for camera in CAMERAS if before[camera] != after[camera]]
    assert moved == [camera for camera in CAMERAS if before[camera] == "c"]
    assert abs(len(moved) - len(CAMERAS) / 4) < len(CAMERAS) * 0.03


def test_every_process_agrees_whatever_the_order_of_members() -> None:
    assert owners(["c", "a", "b"]) == owners(["a", "b", "c"])


def test_no_members_no_owner() -> None:
    assert owner("x/y", []) is None
    assert label_change("x/y", {}, []) is None


def test_an_unassigned_camera_goes_to_its_owner_directly() -> None:
    wanted = owner("x/y", ["a", "b"])
    assert label_change("x/y", {}, ["a", "b"]) == {REPLICA_LABEL: wanted}


def test_a_camera_of_a_dead_replica_is_reassigned_directly_and_a_pending_drain_cleared() -> None:
    live = ["a", "b"]
    wanted = owner("x/y", live)
    assert label_change("x/y", {REPLICA_LABEL: "dead"}, live) == {REPLICA_LABEL: wanted}
    assert label_change("x/y", {REPLICA_LABEL: "dead", DRAIN_LABEL: "dead"}, live) == {
        REPLICA_LABEL: wanted,
        DRAIN_LABEL: None,
    }


def test_a_camera_moving_between_live_replicas_is_drained_first_then_waits() -> None:
    camera = next(c for c in CAMERAS if owner(c, ["a", "b"]) == "b" and owner(c, ["a"]) == "a")
    assert label_change(camera, {REPLICA_LABEL: "a"}, ["a", "b"]) == {DRAIN_LABEL: "a"}
    # Until a lets go, nothing more: b is not given it while a may still be working on it.
    assert label_change(camera, {REPLICA_LABEL: "a", DRAIN_LABEL: "a"}, ["a", "b"]) is None
    # a removed both labels: now b gets it.
    assert label_change(camera, {}, ["a", "b"]) == {REPLICA_LABEL: "b"}


def test_a_camera_in_place_is_left_alone() -> None:
    camera = CAMERAS[0]
    home = owner(camera, ["a", "b", "c"])
    assert home is not None
    assert label_change(camera, {REPLICA_LABEL: home}, ["a", "b", "c"]) is None
    assert label_change(camera, {REPLICA_LABEL: home, DRAIN_LABEL: "zz"}, ["a", "b", "c"]) == {DRAIN_LABEL: None}


def test_every_camera_of_a_grouped_policy_lives_on_one_replica_and_other_cameras_spread() -> None:
    # A recorder group's membership and Deployment are written by one replica: its policy's cameras share it.
    members = ["a", "b", "c", "d"]
    grouped = {owner(shard_key("district-1", f"camera-{i}", "dense"), members) for i in range(500)}
    alone = Counter(owner(shard_key("district-1", f"camera-{i}", None), members) for i in range(500))
    assert len(grouped) == 1
    assert set(alone) == set(members)
    assert shard_key("d", "c", None) != shard_key("d", "recording-policy", "c")  # no camera name contains "/"


class _Grouping:
    """The recording controller's answer, as a table: which (namespace, pinned policy) records in groups."""

    def __init__(self) -> None:
        self.policies_epoch = 0
        self.grouped: set[str] = set()

    def grouping_policy(self, namespace: str, labels: Mapping[str, str], pinned: str | None) -> str | None:
        policy = labels.get("policy")
        return policy if policy in self.grouped else None


def _camera(name: str, policy: str) -> dict[str, Any]:
    labels = {"policy": policy}
    return {"metadata": {"namespace": "district-1", "name": name, "resourceVersion": "1", "labels": labels}}


def test_the_sharder_moves_a_policys_cameras_together_when_the_policy_starts_grouping() -> None:
    grouping = _Grouping()
    sharder = Sharder(cast(Any, None), "camfleet-system", (), cast(Any, None), CameraStore(), grouping)
    keys = [("district-1", f"camera-{i}") for i in range(60)]
    for key in keys:
        sharder._put(_camera(key[1], "dense"))
    live = ["a", "b", "c"]
    assert len({sharder._owner(key, live) for key in keys}) == 3  # recorded alone: spread
    grouping.grouped.add("dense")
    grouping.policies_epoch += 1  # the policy now says camerasPerRecorder > 1
    assert len({sharder._owner(key, live) for key in keys}) == 1
