"""MediaMTX's HTTP authentication hook, judged against the access state (pure: no I/O).

MediaMTX (`authMethod: http`, `authHTTPAddress: https://<gateway>:<token>@<operator>/v1/mediamtx/auth`, the
userinfo being its gateway credential, see `callers`) posts one JSON object per
connection attempt: `user`, `password`, `token` (from an `Authorization: Bearer` header), `ip`, `action`
(publish, read, playback, api, metrics, pprof), `path`, `protocol` (rtsp, rtmp, hls, webrtc, srt), `id` (the
connection or session uuid, or null) and `query`. Any 2xx answer allows, anything else denies.

Mapping:
- `read` needs LiveView and `playback` needs Playback, through a grant token taken from `token`, else
  `password` (RTSP and RTMP clients put the JWT in the password; any user name), else a `jwt=` query parameter;
- `publish` is for camfleet's transcoders only (see `publishers`); viewer tokens never publish;
- `api`, `metrics` and `pprof` are always denied: MediaMTX's control API is for the operator, which reaches it
  on its own network address (exclude those actions with `authHTTPExclude` for the operator, or keep the API
  on an address only the operator can reach).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from camfleet.api.sharing_grant import Permission
from camfleet.gateway.paths import parse_stream_path
from camfleet.gateway.publishers import TRANSCODER_USER, PublisherCredentials
from camfleet.gateway.state import AccessState, GatewayDecision, Outcome

READ_ACTIONS: dict[str, Permission] = {"read": Permission.LIVE_VIEW, "playback": Permission.PLAYBACK}
PUBLISH = "publish"
MAX_FIELD_CHARS = 16_384


@dataclass(frozen=True)
class MediaMtxAuthRequest:
    action: str
    path: str = ""
    user: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    ip: str = ""
    protocol: str = ""
    id: str | None = None
    query: str = field(default="", repr=False)
    """May carry a `jwt=` token: never logged either."""

    @classmethod
    def from_json(cls, body: Any) -> MediaMtxAuthRequest:
        """Read the hook's JSON; raises ValueError (without echoing any value) when it is not the expected shape."""
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        values: dict[str, Any] = {}
        for name in ("action", "path", "user", "password", "token", "ip", "protocol", "query"):
            value = body.get(name)
            if value is None:
                continue
            if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS:
                raise ValueError(f"field '{name}' must be a string of at most {MAX_FIELD_CHARS} characters")
            values[name] = value
        session_id = body.get("id")
        if session_id is not None and not isinstance(session_id, str):
            raise ValueError("field 'id' must be a string or null")
        if "action" not in values:
            raise ValueError("field 'action' is required")
        return cls(id=session_id, **values)

    def bearer_token(self) -> str | None:
        """The grant token, from where MediaMTX clients can put one."""
        if self.token:
            return self.token
        if self.password:
            return self.password
        tokens = parse_qs(self.query).get("jwt", [])
        return tokens[0] if len(tokens) == 1 and tokens[0] else None


def decide_mediamtx(
    request: MediaMtxAuthRequest, state: AccessState, publishers: PublisherCredentials | None, now: datetime
) -> GatewayDecision:
    if request.action == PUBLISH:
        return _decide_publish(request, state, publishers)
    permission = READ_ACTIONS.get(request.action)
    if permission is None:
        return GatewayDecision.deny(
            Outcome.ACTION_NOT_ALLOWED, f"action '{request.action[:32]}' is not open to gateway users"
        )
    path = parse_stream_path(request.path)
    if path is None:
        return GatewayDecision.deny(Outcome.BAD_PATH, "the path is not <namespace>/<camera>[/<profile>]")
    if request.user == TRANSCODER_USER:
        return GatewayDecision.deny(
            Outcome.BAD_PUBLISHER, "transcoder credentials publish only; they never read", camera=path.camera_ref
        )
    return state.decide_token(request.bearer_token(), path.camera_ref, permission, now, path.profile)


def _decide_publish(
    request: MediaMtxAuthRequest, state: AccessState, publishers: PublisherCredentials | None
) -> GatewayDecision:
    path = parse_stream_path(request.path)
    if path is None:
        return GatewayDecision.deny(Outcome.BAD_PATH, "the path is not <namespace>/<camera>[/<profile>]")
    about = {"camera": path.camera_ref}
    if publishers is None:
        return GatewayDecision.deny(Outcome.BAD_PUBLISHER, "no publisher credentials are configured", **about)
    if not publishers.accepts(request.user, request.password, path.camera_ref):
        return GatewayDecision.deny(
            Outcome.BAD_PUBLISHER, f"only the transcoders of {path.camera_ref} publish there", **about
        )
    if state.camera(path.camera_ref) is None:
        return GatewayDecision.deny(Outcome.UNKNOWN_CAMERA, f"camera {path.camera_ref} is not known", **about)
    return GatewayDecision(True, Outcome.ALLOWED, (f"transcoder of {path.camera_ref} publishes {path}",), **about)
