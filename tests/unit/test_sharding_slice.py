"""A replica's side of sharding: which watched cameras it works on, and the claim it removes when drained."""

from __future__ import annotations

from typing import Any, cast

from camfleet.sharding.assignment import DRAIN_LABEL, REPLICA_LABEL
from camfleet.sharding.slice_member import SliceMember, release_patch


def camera(**labels: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "transport", "name": "gate-1", "labels": labels}}


MEMBER = SliceMember(client=cast(Any, None), shard_id="a", cameras=cast(Any, None))


def test_a_replica_works_only_on_cameras_labelled_for_it_and_not_being_drained() -> None:
    assert MEMBER.owns(camera(**{REPLICA_LABEL: "a"}))
    assert not MEMBER.owns(camera(**{REPLICA_LABEL: "b"}))
    assert not MEMBER.owns(camera())
    assert not MEMBER.owns(camera(**{REPLICA_LABEL: "a", DRAIN_LABEL: "a"}))
    assert MEMBER.drained(camera(**{REPLICA_LABEL: "a", DRAIN_LABEL: "a"}))
    assert not MEMBER.drained(camera(**{REPLICA_LABEL: "b", DRAIN_LABEL: "b"}))


def test_the_claim_is_removed_only_while_it_is_still_this_replicas() -> None:
    patch = release_patch("a", draining=True)
    assert patch[0] == {"op": "test", "path": "/metadata/labels/shard.camfleet.io~1replica", "value": "a"}
    assert {"op": "remove", "path": "/metadata/labels/shard.camfleet.io~1replica"} in patch
    assert {"op": "remove", "path": "/metadata/labels/drain.shard.camfleet.io~1replica"} in patch
    assert len(release_patch("a", draining=False)) == 2
