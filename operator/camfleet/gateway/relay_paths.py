"""Each camera's original stream on the media gateway: the MediaMTX path `<namespace>/<camera>` relaying the
device's RTSP stream, configured through MediaMTX's control API (v3 `config/paths/...`).

The path pulls the first stream URI the device reported (`status.streamUris[0]`) with the camera's own
credentials, over TCP, and only while someone reads it (`sourceOnDemand`): an unwatched camera costs the
gateway nothing. Readers never see those credentials; the door (`/v1/mediamtx/auth`) decides who reads.

Ownership: the operator changes or removes only paths it would have written itself, i.e. a path named after a
camera whose `source` is an RTSP URL on that camera's own host. A path an administrator configured otherwise
(another source, a publisher) is left alone and reported. Credentials go to the camera's own host only
(the host of its ONVIF endpoint), whatever stream URI the device names, as for the recorder.

Pure functions build and compare the configurations; `MediaMtxPaths` does the I/O (httpx). Nothing here logs
a source URL: it carries the device password.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

log = logging.getLogger(__name__)

SOURCE_SCHEMES = ("rtsp", "rtsps")
RELAY_FIELDS = ("source", "sourceOnDemand", "rtspTransport")
"""The fields the operator sets; a path whose fields already say this is left as it is (a replace would drop its
readers)."""


@dataclass(frozen=True)
class RelayPath:
    name: str
    config: Mapping[str, Any]

    def __repr__(self) -> str:  # the config carries the device password
        return f"RelayPath({self.name!r})"


def source_url(stream_uri: str, camera_host: str, username: str, password: str) -> str | None:
    """The stream URI with the camera's credentials, or None when it is not RTSP on the camera's own host."""
    parts = urlsplit(stream_uri)
    if parts.scheme not in SOURCE_SCHEMES or not parts.hostname or parts.hostname != camera_host:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def relay_path(namespace: str, camera: str, source: str) -> RelayPath:
    return RelayPath(
        f"{namespace}/{camera}", {"source": source, "sourceOnDemand": True, "rtspTransport": "tcp", "record": False}
    )


def is_ours(existing: Mapping[str, Any], camera_host: str) -> bool:
    """A path the operator would have written: an RTSP source on the camera's own host."""
    source = existing.get("source")
    if not isinstance(source, str):
        return False
    parts = urlsplit(source)
    return parts.scheme in SOURCE_SCHEMES and parts.hostname == camera_host


def up_to_date(existing: Mapping[str, Any], wanted: RelayPath) -> bool:
    return all(existing.get(key) == wanted.config.get(key) for key in RELAY_FIELDS)


class ForeignPath(Exception):
    """A path of that name exists and is not the operator's: left alone."""


class MediaMtxPaths:
    """Adds, replaces and deletes relay paths through a MediaMTX control API."""

    def __init__(self, api_url: str, *, client: httpx.AsyncClient | None = None, timeout: float = 5.0) -> None:
        self._client = client or httpx.AsyncClient(base_url=api_url, timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get(self, name: str) -> dict[str, Any] | None:
        response = await self._client.get(f"/v3/config/paths/get/{name}")
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def ensure(self, wanted: RelayPath, camera_host: str) -> str:
        """Make the path say `wanted`: "added", "replaced" or "unchanged"; ForeignPath when it is not ours."""
        existing = await self._get(wanted.name)
        if existing is None:
            response = await self._client.post(f"/v3/config/paths/add/{wanted.name}", json=dict(wanted.config))
            response.raise_for_status()
            return "added"
        if not is_ours(existing, camera_host):
            raise ForeignPath(f"MediaMTX path {wanted.name} has another source; camfleet leaves it alone")
        if up_to_date(existing, wanted):
            return "unchanged"
        response = await self._client.post(f"/v3/config/paths/replace/{wanted.name}", json=dict(wanted.config))
        response.raise_for_status()
        return "replaced"

    async def remove(self, name: str, camera_host: str | None) -> bool:
        """Delete the path when it is ours (`camera_host` None: the camera is unknown, so only an RTSP relay
        source counts as ours); False when there was nothing of ours to delete."""
        existing = await self._get(name)
        if existing is None:
            return False
        host = camera_host if camera_host is not None else urlsplit(str(existing.get("source") or "")).hostname
        if not host or not is_ours(existing, host):
            return False
        response = await self._client.delete(f"/v3/config/paths/delete/{name}")
        if response.status_code == httpx.codes.NOT_FOUND:
            return False
        response.raise_for_status()
        return True
