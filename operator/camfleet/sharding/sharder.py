"""The sharder: run by the one Lease-elected replica, it writes each camera's replica label.

It follows every Camera of the served namespaces (list+watch, `kube.label_watch`) and the membership Leases.
Each round it compares every camera's shard labels with its rendezvous owner among the live members and writes
the change (`assignment.label_change`), with the resourceVersion it judged from: a label write based on a stale
view (a replica letting go meanwhile, a previous sharder still finishing) is refused by the API server and
judged again next round. The elected replica also keeps the full camera bodies for the access controllers
(`access_store`): grants, tiers and the decision endpoint judge every camera, not a slice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.types import PatchType

from camfleet.active_gate import ActiveGate
from camfleet.clock import Clock
from camfleet.kube.label_watch import list_and_watch
from camfleet.kube.listing import namespace_scopes, served
from camfleet.kube.resources import RESOURCES
from camfleet.kube.store import CameraStore, Key, key_of
from camfleet.recording.selection import selected_by
from camfleet.sharding.assignment import (
    DRAIN_LABEL,
    REPLICA_LABEL,
    LabelChange,
    change_towards,
    owner,
    shard_key,
)
from camfleet.sharding.leases import list_shard_leases
from camfleet.sharding.membership import RENEW_SECONDS, live_members

log = logging.getLogger(__name__)
ROUND_SECONDS = RENEW_SECONDS  # a join or a death is seen within a Lease renewal
SETTLE_SECONDS = 2 * ROUND_SECONDS
"""Cameras are (re)assigned only once the live members have stayed the same this long: replicas starting together
(a rollout, a restart of every replica) join within seconds of each other, and assigning to the first one up
would move half its cameras again, each through a drain, a moment later. A dead replica's cameras wait this much
longer (Lease expiry + a round + this: ~30 s, inside the 60 s the issue allows)."""
CONCURRENT_WRITES = 20
SHARD_LABELS = (REPLICA_LABEL, DRAIN_LABEL)


class Grouping(Protocol):
    """Which cameras are recorded in recorder groups (the recording controller knows the policies)."""

    @property
    def policies_epoch(self) -> int:
        """Changes whenever a RecordingPolicy does (its selector, priority or camerasPerRecorder may have)."""
        ...

    def grouping_policy(self, namespace: str, labels: Mapping[str, str], pinned: str | None) -> str | None:
        """The policy recording such a camera in groups; None when it records it alone (or nothing does)."""
        ...


class NoGrouping:
    policies_epoch = 0

    def grouping_policy(self, namespace: str, labels: Mapping[str, str], pinned: str | None) -> str | None:
        return None


class Sharder:
    def __init__(
        self,
        client: AsyncClient,
        operator_namespace: str,
        namespaces: tuple[str, ...],
        clock: Clock,
        access_store: CameraStore,
        grouping: Grouping | None = None,
    ) -> None:
        self._client = client
        self._grouping = grouping or NoGrouping()
        self._namespace = operator_namespace
        self._patterns = namespaces
        self._clock = clock
        self._store = access_store
        self._seen: dict[Key, tuple[str, dict[str, str]]] = {}  # resourceVersion and shard labels
        self._selected_by: dict[Key, tuple[dict[str, str], str | None]] = {}  # labels and pinned policy
        self._dirty: set[Key] = set()  # changed since the last round
        self._owners: dict[Key, str | None] = {}  # for `_owners_of`, valid while the live members stay the same
        self._owners_of: tuple[tuple[str, ...], int] = ((), -1)  # live members, policies epoch
        self._scopes = namespace_scopes(namespaces)  # one listing and watch each
        self._listed: set[str] = set()
        self._wake = asyncio.Event()
        self.live: list[str] = []

    def every_camera_listed(self) -> bool:
        """Whether the access store holds every camera: this replica is elected and its listing of every scope is
        done (until then a count over it would be of a part)."""
        return len(self._listed) == len(self._scopes)

    # -- fed by the camera watch ---------------------------------------------------------------

    def _put(self, body: Mapping[str, Any]) -> None:
        key = key_of(body)
        labels = body["metadata"].get("labels") or {}
        self._seen[key] = (
            str(body["metadata"]["resourceVersion"]),
            {k: labels[k] for k in SHARD_LABELS if k in labels},
        )
        self._selected_by[key] = selected_by(body)
        self._dirty.add(key)
        self._store.put(body)
        self._store.notify(key)

    def _listed_in(self, scope: str, bodies: list[dict[str, Any]]) -> None:
        present = {key_of(body) for body in bodies if served(body["metadata"]["namespace"], self._patterns)}
        for key in [key for key in self._seen if key not in present and (scope == "*" or key[0] == scope)]:
            self._gone(key)
        for body in bodies:
            if key_of(body) in present:
                self._put(body)
        self._listed.add(scope)
        self._wake.set()

    def _listing_of(self, scope: str) -> Callable[[list[dict[str, Any]]], None]:
        return lambda bodies: self._listed_in(scope, bodies)

    def _changed(self, kind: str, body: dict[str, Any]) -> None:
        if not served(body["metadata"]["namespace"], self._patterns):
            return
        if kind == "DELETED":
            self._gone(key_of(body))
        else:
            self._put(body)
            self._wake.set()

    def _gone(self, key: Key) -> None:
        self._seen.pop(key, None)
        self._selected_by.pop(key, None)
        self._owners.pop(key, None)
        self._dirty.discard(key)
        self._store.remove(key)

    # -- the rounds ------------------------------------------------------------------------------

    async def run(self, gate: ActiveGate) -> None:
        """While this replica is elected: follow the cameras and assign them."""
        while True:
            await gate.wait_open()
            log.info("elected: sharding the cameras")
            tasks = [
                asyncio.create_task(
                    list_and_watch(
                        self._client,
                        RESOURCES["Camera"],
                        scope,
                        self._listing_of(scope),
                        self._changed,
                    ),
                    name=f"sharder watch {scope}",
                )
                for scope in self._scopes
            ]
            tasks.append(asyncio.create_task(self._rounds(), name="sharder rounds"))
            try:
                await gate.wait_change(True)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                # The cameras stay known (not current) until the next election's listing corrects them: an access
                # controller elected again never judges from an emptied store in between.
                self._listed.clear()
            log.info("no longer elected: sharding stopped")

    async def _rounds(self) -> None:
        """A round on every wake-up (cameras changed: only those are judged) and every ROUND_SECONDS (the
        members are read again; every camera is judged, so a write refused as stale is tried again)."""
        last_full = float("-inf")
        members: tuple[str, ...] | None = None  # the live members, as of `stable_since`
        stable_since, judged_for = self._clock.monotonic(), None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=ROUND_SECONDS)
            self._wake.clear()
            try:
                full = self._clock.monotonic() - last_full >= ROUND_SECONDS
                if full:
                    last_full = self._clock.monotonic()
                    self.live = live_members(await list_shard_leases(self._client, self._namespace), self._clock.now())
                    if tuple(sorted(self.live)) != members:
                        members, stable_since = tuple(sorted(self.live)), self._clock.monotonic()
                settled = self._clock.monotonic() - stable_since >= SETTLE_SECONDS
                if self.every_camera_listed() and settled:
                    await self._assign(self.live, everything=full or judged_for != members)
                    judged_for = members
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("sharding round failed; next round in %ss", ROUND_SECONDS, exc_info=True)
            await asyncio.sleep(0.5)  # batch the watch events of one round's writes

    def _owner(self, key: Key, live: list[str]) -> str | None:
        basis = (tuple(live), self._grouping.policies_epoch)
        if basis != self._owners_of:  # a member came or went, or a policy changed: judge every camera again
            self._owners, self._owners_of = {}, basis
        if key not in self._owners:
            labels, pinned = self._selected_by.get(key, ({}, None))
            policy = self._grouping.grouping_policy(key[0], labels, pinned)
            self._owners[key] = owner(shard_key(key[0], key[1], policy), live)
        return self._owners[key]

    async def _assign(self, live: list[str], everything: bool) -> None:
        keys = list(self._seen) if everything else [key for key in self._dirty if key in self._seen]
        self._dirty.clear()
        changes = [
            (key, version, change)
            for key in keys
            for version, labels in [self._seen[key]]
            if (change := change_towards(self._owner(key, live), labels, live)) is not None
        ]
        if not changes:
            return
        log.info("sharding %d cameras over %s", len(changes), ", ".join(live))
        limit = asyncio.Semaphore(CONCURRENT_WRITES)

        async def write(key: Key, version: str, change: LabelChange) -> None:
            async with limit:
                await self._write(key, version, change)

        await asyncio.gather(*(write(*item) for item in changes))

    async def _write(self, key: Key, version: str, change: LabelChange) -> None:
        patch = {"metadata": {"resourceVersion": version, "labels": change}}
        try:
            await self._client.patch(RESOURCES["Camera"], key[1], patch, namespace=key[0], patch_type=PatchType.MERGE)
        except ApiError as error:  # 409: changed since judged; 404: gone. The watch brings the news.
            if error.status.code not in (404, 409):
                log.warning("could not label camera %s/%s: %s", *key, error.status.message)
