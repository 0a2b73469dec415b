"""Which replica a camera belongs to (rendezvous hashing over the live members) and the label change to get there.

Rendezvous (highest-random-weight) hashing: every (member, camera) pair gets a pseudo-random weight and the
camera belongs to the member of highest weight. A member joining takes ~1/N of the cameras from the others, a
member leaving hands only its own cameras to the rest; nothing else moves, and no ring or virtual nodes are
needed. Pure: the same inputs give the same owner in every process.

Moving a camera from a live replica A to B is a handshake (as kubernetes-controller-sharding does): the sharder
marks it `drain.shard.camfleet.io/replica=A`; A stops working on it and removes both labels; only an unlabelled
camera is given to B. A dead replica (expired Lease) cannot answer, and no longer works, so its cameras are
given to their new owner directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

REPLICA_LABEL = "shard.camfleet.io/replica"
DRAIN_LABEL = "drain.shard.camfleet.io/replica"

LabelChange = dict[str, str | None]  # label -> new value, None: remove


def shard_key(namespace: str, camera: str, grouping_policy: str | None) -> str:
    """What is hashed to find a camera's replica: the camera itself, or, for a camera its RecordingPolicy records in
    recorder groups, the policy: a group's membership and its one Deployment are decided by one replica, so every
    camera of a grouped policy lives on the same replica (a camera name has no "/", so the keys never collide)."""
    if grouping_policy is None:
        return f"{namespace}/{camera}"
    return f"{namespace}/recording-policy/{grouping_policy}"


def weight(member: str, camera: str) -> int:
    digest = hashlib.blake2b(f"{member}\x00{camera}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(camera: str, members: Sequence[str]) -> str | None:
    """The member `camera` (`namespace/name`) belongs to; None when there is none."""
    if not members:
        return None
    return max(members, key=lambda member: (weight(member, camera), member))


def label_change(camera: str, labels: Mapping[str, str], live: Sequence[str]) -> LabelChange | None:
    """What the sharder writes on a camera with these labels, given the live members; None: nothing now."""
    return change_towards(owner(camera, live), labels, live)


def change_towards(wanted: str | None, labels: Mapping[str, str], live: Sequence[str]) -> LabelChange | None:
    """`label_change` with the camera's owner among `live` already known (the sharder keeps it per member set)."""
    if wanted is None:
        return None
    current = labels.get(REPLICA_LABEL)
    draining = labels.get(DRAIN_LABEL)
    if current is None or current not in live:
        # Unassigned, drained, or its replica is dead: the new owner may take it at once.
        change: LabelChange = {REPLICA_LABEL: wanted}
        if draining is not None:
            change[DRAIN_LABEL] = None
        return change
    if current == wanted:
        # In place; a drain mark for some other replica is stale (its replica relabelled by hand, say).
        return {DRAIN_LABEL: None} if draining not in (None, current) else None
    if draining == current:
        return None  # waiting for its replica to let go
    return {DRAIN_LABEL: current}
