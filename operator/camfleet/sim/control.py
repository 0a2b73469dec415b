"""JSON control API: read a camera's state and change it "by hand on the device".

GET   /control/cameras              ids of all cameras
GET   /control/cameras/{id}         state, including the history of Set calls and the PTZ moves received, each
                                    with the account that sent it (`ptz.moves`; never the password)
DELETE /control/cameras/{id}/moves  forget the PTZ moves received so far
PATCH /control/cameras/{id}         change password, username, skewSeconds, quirks, personality (sets quirks),
                                    fault, slowSeconds, timeSource, timezone, ntpServers, ntpFromDhcp, encoder,
                                    masks, ptzHome, foreignUrl, foreignRtsp (where the hostile faults
                                    foreign-xaddr, redirect and foreign-stream point)
                                    `requests`: SOAP requests received per operation
GET   /control/stats                request counters and peak concurrency
POST  /control/stats/reset          reset counters (peak restarts from the current in-flight count)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from camfleet.sim.state import Camera, Fault, Mask, Quirk, Stats, personality


def camera_view(camera: Camera, device_url: str) -> dict[str, Any]:
    return {
        "id": camera.camera_id,
        "deviceUrl": device_url,
        "username": camera.username,
        "skewSeconds": camera.skew_seconds,
        "clock": camera.now().isoformat(),
        "quirks": sorted(camera.quirks),
        "fault": str(camera.fault),
        "slowSeconds": camera.slow_seconds,
        "time": {
            "source": camera.time_source,
            "timezone": camera.timezone,
            "daylightSavings": camera.daylight_savings,
            "ntpFromDhcp": camera.ntp_from_dhcp,
            "ntpServers": list(camera.ntp_servers),
        },
        "encoders": [
            {
                "token": e.token,
                "encoding": e.encoding,
                "width": e.width,
                "height": e.height,
                "fps": e.fps,
                "bitrateKbps": e.bitrate_kbps,
                "gop": e.gop,
            }
            for e in camera.encoders
        ],
        "masks": [
            {"token": m.token, "points": [list(p) for p in m.points], "enabled": m.enabled} for m in camera.masks
        ],
        "ptz": {
            "position": list(camera.ptz_position),
            "home": list(camera.ptz_home),
            "presets": [{"token": p.token, "name": p.name, "position": list(p.position)} for p in camera.presets],
            "moves": list(camera.moves or ()),
        },
        "history": list(camera.history or ()),
        "requests": dict(camera.requests or {}),
    }


def stats_view(stats: Stats, camera_count: int) -> dict[str, Any]:
    return {
        "cameras": camera_count,
        "inflight": stats.inflight,
        "peakInflight": stats.peak_inflight,
        "totalRequests": stats.total_requests,
        "authFailures": stats.auth_failures,
    }


def _position(value: Any) -> tuple[float, float, float]:
    pan, tilt, zoom = (float(v) for v in value)
    return pan, tilt, zoom


def _set_encoder(camera: Camera, patch: Mapping[str, Any]) -> None:
    encoder = camera.main_encoder
    encoder.encoding = str(patch.get("encoding", encoder.encoding)).upper()
    encoder.width = int(patch.get("width", encoder.width))
    encoder.height = int(patch.get("height", encoder.height))
    encoder.fps = int(patch.get("fps", encoder.fps))
    encoder.bitrate_kbps = int(patch.get("bitrateKbps", encoder.bitrate_kbps))
    encoder.gop = int(patch.get("gop", encoder.gop))


def _set_masks(camera: Camera, masks: list[Any]) -> None:
    camera.masks = [Mask(camera.new_token("mask"), tuple((float(x), float(y)) for x, y in points)) for points in masks]


_FIELDS: dict[str, Callable[[Camera, Any], None]] = {
    "password": lambda c, v: setattr(c, "password", str(v)),
    "username": lambda c, v: setattr(c, "username", str(v)),
    "skewSeconds": lambda c, v: setattr(c, "skew_seconds", float(v)),
    "quirks": lambda c, v: setattr(c, "quirks", frozenset(Quirk(q) for q in v)),
    "personality": lambda c, v: setattr(c, "quirks", personality(str(v))),
    "fault": lambda c, v: setattr(c, "fault", Fault(v)),
    "slowSeconds": lambda c, v: setattr(c, "slow_seconds", float(v)),
    "timeSource": lambda c, v: setattr(c, "time_source", {"NTP": "NTP", "Manual": "Manual"}[v]),
    "timezone": lambda c, v: setattr(c, "timezone", str(v)),
    "ntpServers": lambda c, v: setattr(c, "ntp_servers", tuple(str(s) for s in v)),
    "ntpFromDhcp": lambda c, v: setattr(c, "ntp_from_dhcp", bool(v)),
    "encoder": _set_encoder,
    "masks": _set_masks,
    "ptzHome": lambda c, v: setattr(c, "ptz_home", _position(v)),
    "foreignUrl": lambda c, v: setattr(c, "foreign_url", str(v)),
    "foreignRtsp": lambda c, v: setattr(c, "foreign_rtsp", str(v)),
}


def apply_patch(camera: Camera, patch: Mapping[str, Any]) -> None:
    """Apply a control-API patch; raises ValueError (with the field name) on bad input."""
    unknown = set(patch) - set(_FIELDS)
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    for name, value in patch.items():
        try:
            _FIELDS[name](camera, value)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad value for {name}: {type(exc).__name__}") from None


class ControlApi:
    def __init__(self, cameras: dict[str, Camera], stats: Stats, device_url: Callable[[str], str]) -> None:
        self._cameras = cameras
        self._stats = stats
        self._device_url = device_url

    def register(self, app: web.Application) -> None:
        app.router.add_get("/control/cameras", self.list_cameras)
        app.router.add_get("/control/cameras/{camera_id}", self.get_camera)
        app.router.add_patch("/control/cameras/{camera_id}", self.patch_camera)
        app.router.add_delete("/control/cameras/{camera_id}/moves", self.forget_moves)
        app.router.add_get("/control/stats", self.get_stats)
        app.router.add_post("/control/stats/reset", self.reset_stats)

    def _camera(self, request: web.Request) -> Camera:
        camera = self._cameras.get(request.match_info["camera_id"])
        if camera is None:
            raise web.HTTPNotFound(text="no such camera")
        return camera

    async def list_cameras(self, request: web.Request) -> web.Response:
        return web.json_response({"cameras": list(self._cameras)})

    async def get_camera(self, request: web.Request) -> web.Response:
        camera = self._camera(request)
        return web.json_response(camera_view(camera, self._device_url(camera.camera_id)))

    async def patch_camera(self, request: web.Request) -> web.Response:
        camera = self._camera(request)
        try:
            patch = await request.json()
            if not isinstance(patch, dict):
                raise ValueError("expected a JSON object")
            apply_patch(camera, patch)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response(camera_view(camera, self._device_url(camera.camera_id)))

    async def forget_moves(self, request: web.Request) -> web.Response:
        camera = self._camera(request)
        camera.moves = None
        return web.json_response(camera_view(camera, self._device_url(camera.camera_id)))

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(stats_view(self._stats, len(self._cameras)))

    async def reset_stats(self, request: web.Request) -> web.Response:
        self._stats.reset()
        return web.json_response(stats_view(self._stats, len(self._cameras)))
