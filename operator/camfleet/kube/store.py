"""Listers fed by watch events: what controllers read about objects other controllers own.

kopf hands every watch event to a store first; controllers then read from the store and subscribe
to its changes. No controller is another's store (client-go's informer cache and listers play this
part in Go operators).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from pydantic import ValidationError

from camfleet.api.authorities import AUTHORITIES_NAME, CamfleetAuthorities
from camfleet.api.base import ObjectMeta
from camfleet.api.common import VideoProfile

log = logging.getLogger(__name__)

DEFAULT_BITRATE_KBPS = int(VideoProfile.model_fields["bitrate_kbps"].default)  # a camera that sets none records at it

Key = tuple[str, str]
Listener = Callable[[Key, Mapping[str, Any] | None], None]


def key_of(body: Mapping[str, Any]) -> Key:
    return (body["metadata"]["namespace"], body["metadata"]["name"])


# What a controller reads of a Camera: the envelope, spec and status whole (the status function merges into the
# status as stored; models parse spec and status), and of metadata the fields of api.base.ObjectMeta ("the part of
# Kubernetes object metadata the operator reads"). Everything else is left out: managedFields (the API server's
# field-ownership records, 40% of a body), ownerReferences, selfLink, and the annotations no controller reads.
KEPT_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")
KEPT_METADATA = tuple(field.alias or name for name, field in ObjectMeta.model_fields.items() if name != "generate_name")
DROPPED_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",  # a client-side `kubectl apply` copy of the whole object
)
DROPPED_ANNOTATION_PREFIXES = ("kopf.zalando.org/",)  # kopf's own bookkeeping, had it been left in its default place


def camera_projection(body: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a Camera body that controllers read (tests/unit/test_store.py runs their readers on it)."""
    projected = {key: body[key] for key in KEPT_FIELDS if key in body}
    metadata = {key: body["metadata"][key] for key in KEPT_METADATA if key in body["metadata"]}
    if "annotations" in metadata:
        metadata["annotations"] = {
            key: value
            for key, value in metadata["annotations"].items()
            if key not in DROPPED_ANNOTATIONS and not key.startswith(DROPPED_ANNOTATION_PREFIXES)
        }
    projected["metadata"] = metadata
    return projected


def _compact(body: Mapping[str, Any]) -> str:
    """The camera's projection as compact JSON."""
    return json.dumps(camera_projection(body), separators=(",", ":"))


class CameraStore:
    """The latest body of every Camera (its projection: what controllers read), indexed by namespace; listeners
    hear of every change."""

    def __init__(self) -> None:
        self._bodies: dict[Key, str] = {}  # compact JSON: 3.6 KB a camera; 38 KB as dicts (bench/memory.py)
        # Read of every member of a recorder group at each join (its volume's sizing): kept decoded, so a join
        # does not decode the bodies of up to hundreds of members (that was 12% of a restart's CPU at 2,000).
        self._bitrates_kbps: dict[Key, int] = {}
        self._names_by_namespace: dict[str, set[str]] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(key, body)` on every camera change (body None: the camera is gone)."""
        self._listeners.append(listener)

    def put(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Store a watched (or just written) body; returns the previous one."""
        key = key_of(body)
        previous = self.get(key)
        self._keep(key, body)
        self._names_by_namespace.setdefault(key[0], set()).add(key[1])
        return previous

    def _keep(self, key: Key, body: Mapping[str, Any]) -> None:
        self._bodies[key] = _compact(body)
        bitrate = body.get("spec", {}).get("device", {}).get("videoEncoder", {}).get("bitrateKbps")
        if bitrate is None:
            self._bitrates_kbps.pop(key, None)
        else:
            self._bitrates_kbps[key] = int(bitrate)

    def notify(self, key: Key) -> None:
        body = self.get(key)
        for listener in self._listeners:
            listener(key, body)

    def refresh(self, body: Mapping[str, Any]) -> None:
        """Replace a known camera's body with what the API server stored after our own write (no listeners)."""
        key = key_of(body)
        if key in self._bodies:
            self._keep(key, body)

    def remove(self, key: Key) -> None:
        self._bodies.pop(key, None)
        self._bitrates_kbps.pop(key, None)
        self._names_by_namespace.get(key[0], set()).discard(key[1])
        for listener in self._listeners:
            listener(key, None)

    def get(self, key: Key) -> dict[str, Any] | None:
        """The camera as last seen (a fresh copy: changing it changes nothing here)."""
        text = self._bodies.get(key)
        return json.loads(text) if text is not None else None

    def bitrate_kbps(self, key: Key) -> int:
        """The camera's spec.device.videoEncoder.bitrateKbps, without decoding its body (the model's default when it
        sets none, or is unknown)."""
        return self._bitrates_kbps.get(key, DEFAULT_BITRATE_KBPS)

    def knows(self, key: Key) -> bool:
        return key in self._bodies

    def count_in(self, namespace: str) -> int:
        return len(self._names_by_namespace.get(namespace, ()))

    def keys_in(self, namespace: str) -> list[Key]:
        return [(namespace, name) for name in self._names_by_namespace.get(namespace, ())]


def _target_of(body: Mapping[str, Any]) -> tuple[str, str, str] | None:
    target = body.get("spec", {}).get("target", {})
    if not target.get("kind") or not target.get("name"):
        return None
    return (str(target["kind"]), str(target.get("namespace") or body["metadata"]["namespace"]), str(target["name"]))


class ApprovalStore:
    """Every GrantApproval, indexed by the object it decides on (a SharingGrant or a FootageExport)."""

    def __init__(self) -> None:
        self._bodies: dict[Key, dict[str, Any]] = {}
        self._by_target: dict[tuple[str, str, str], set[Key]] = {}

    def put(self, body: Mapping[str, Any]) -> None:
        key = key_of(body)
        self.remove(key)
        self._bodies[key] = dict(body)
        target = _target_of(body)
        if target is not None:
            self._by_target.setdefault(target, set()).add(key)

    def remove(self, key: Key) -> None:
        previous = self._bodies.pop(key, None)
        target = _target_of(previous) if previous is not None else None
        if target is not None:
            self._by_target.get(target, set()).discard(key)

    def approvals_for(self, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
        return [self._bodies[key] for key in sorted(self._by_target.get((kind, namespace, name), ()))]


class AuthoritiesStore:
    """The one CamfleetAuthorities object, parsed; admission webhooks read it.

    Every replica follows it with a watch of its own (`follow_authorities`), not through kopf: kopf pauses a
    standby replica's watches, but a standby answers admission requests too and must judge them the same.
    """

    def __init__(self) -> None:
        self._current: CamfleetAuthorities | None = None
        self._loaded = asyncio.Event()
        self._listeners: list[Callable[[Mapping[str, Any]], None]] = []

    def subscribe(self, listener: Callable[[Mapping[str, Any]], None]) -> None:
        """Call `listener(body)` whenever the configuration changes (not when it is deleted)."""
        self._listeners.append(listener)

    def put(self, body: Mapping[str, Any]) -> None:
        if body.get("metadata", {}).get("name") != AUTHORITIES_NAME:
            return
        try:
            self._current = CamfleetAuthorities.model_validate(body)
        except ValidationError:
            log.exception("CamfleetAuthorities %s does not parse; keeping the previous configuration", AUTHORITIES_NAME)
            return
        for listener in self._listeners:
            listener(body)

    def remove(self, name: str) -> None:
        if name == AUTHORITIES_NAME:
            self._current = None

    def loaded(self) -> None:
        """The first full listing has been read: absence now means "not configured"."""
        self._loaded.set()

    @property
    def current(self) -> CamfleetAuthorities | None:
        return self._current

    async def wait_current(self, seconds: float = 5.0) -> CamfleetAuthorities | None:
        """The configuration once the first listing is in; raises TimeoutError when it does not come in time."""
        async with asyncio.timeout(seconds):
            await self._loaded.wait()
        return self._current


async def follow_authorities(client: AsyncClient, store: AuthoritiesStore, resource: Any) -> None:
    """List, then watch, CamfleetAuthorities into `store`, forever; re-list after any error."""
    while True:
        try:
            version = None
            names = set()
            async for item in client.list(resource):
                body = item.to_dict()
                names.add(body["metadata"]["name"])
                store.put(body)
            if AUTHORITIES_NAME not in names:
                store.remove(AUTHORITIES_NAME)
            store.loaded()
            async for kind, item in client.watch(resource, resource_version=version):
                body = item.to_dict()
                if kind == "DELETED":
                    store.remove(body["metadata"]["name"])
                else:
                    store.put(body)
        except asyncio.CancelledError:
            raise
        except ApiError as error:  # e.g. 429 while the API server's storage (re)initializes: expected, no traceback
            log.warning("watch of CamfleetAuthorities broke (%s); listing again in 2s", error.status.message)
        except Exception:
            log.warning("watch of CamfleetAuthorities broke; listing again in 2s", exc_info=True)
        await asyncio.sleep(2)
