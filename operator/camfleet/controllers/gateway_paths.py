"""Keeps each camera's relay path on the media gateway (`gateway.relay_paths`) in step with the Camera: added once
the device has reported a stream URI, replaced when the URI or the credentials change, deleted with the camera.

Only the active replica writes (the gate); every `RESYNC_SECONDS` it checks every known camera again, so a
MediaMTX that restarted with an empty path list gets its paths back, and an API error is retried. Failures are
logged with the camera and the error's kind, never a URL (it carries the device password).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx
from lightkube import AsyncClient
from pydantic import ValidationError

from camfleet.active_gate import ActiveGate
from camfleet.api.camera import Camera
from camfleet.gateway.relay_paths import ForeignPath, MediaMtxPaths, relay_path, source_url
from camfleet.kube.secrets import CredentialsUnavailable, read_credentials
from camfleet.kube.store import CameraStore, Key
from camfleet.recording.workloads import camera_host

log = logging.getLogger(__name__)

RESYNC_SECONDS = 30.0


class GatewayPathsController:
    def __init__(
        self, client: AsyncClient, cameras: CameraStore, paths: MediaMtxPaths, resync_seconds: float = RESYNC_SECONDS
    ) -> None:
        self._client = client
        self._cameras = cameras
        self._paths = paths
        self._resync_seconds = resync_seconds
        self._known: set[Key] = set()
        self._hosts: dict[Key, str] = {}
        self._dirty: set[Key] = set()
        self._failing: set[Key] = set()  # warned about once, until the path is in step again
        self._wake = asyncio.Event()

    def camera_changed(self, key: Key, body: Mapping[str, Any] | None) -> None:
        """A CameraStore listener: sync this camera's path soon."""
        self._dirty.add(key)
        self._wake.set()

    async def run(self, gate: ActiveGate) -> None:
        next_resync = 0.0
        while True:
            await gate.wait_open()
            if time.monotonic() >= next_resync:
                self._dirty |= self._known
                next_resync = time.monotonic() + self._resync_seconds
            batch, self._dirty = self._dirty, set()
            for key in sorted(batch):
                await self._sync_logged(key)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.1, next_resync - time.monotonic()))

    async def _sync_logged(self, key: Key) -> None:
        """One warning when a camera's path falls out of step (retried at every resync), one line when it is back."""
        try:
            await self.sync(key)
        except (httpx.HTTPError, CredentialsUnavailable, ForeignPath) as error:
            detail = str(error) if not isinstance(error, httpx.HTTPError) else type(error).__name__
            if key not in self._failing:
                self._failing.add(key)
                log.warning("camera %s/%s: its gateway path is not in step: %s (retried)", *key, detail)
            return
        if key in self._failing:
            self._failing.discard(key)
            log.info("camera %s/%s: its gateway path is in step again", *key)

    async def sync(self, key: Key) -> None:
        namespace, name = key
        body = self._cameras.get(key)
        camera = _camera(body)
        if camera is None:
            self._known.discard(key)
            if await self._paths.remove(f"{namespace}/{name}", self._hosts.pop(key, None)):
                log.info("camera %s/%s: its gateway path is removed", namespace, name)
            return
        self._known.add(key)
        host = camera_host(camera)
        self._hosts[key] = host
        streams = camera.status.stream_uris if camera.status else []
        if not streams:
            return  # the device has not told its stream yet; the next camera change brings it
        credentials = await read_credentials(self._client, namespace, camera.spec.credentials_secret_ref)
        source = source_url(streams[0].uri, host, credentials.username, credentials.password)
        if source is None:
            log.warning(
                "camera %s/%s: its stream URI is not RTSP on the camera's host %s: no gateway path",
                namespace,
                name,
                host,
            )
            return
        outcome = await self._paths.ensure(relay_path(namespace, name, source), host)
        if outcome != "unchanged":
            log.info("camera %s/%s: gateway path %s", namespace, name, outcome)


def _camera(body: Mapping[str, Any] | None) -> Camera | None:
    if body is None or body.get("metadata", {}).get("deletionTimestamp"):
        return None
    try:
        return Camera.model_validate(body)
    except ValidationError:
        return None
