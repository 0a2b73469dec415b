"""The media gateway's path convention: `<namespace>/<camera>[/<profile>]`.

`namespace/camera` is the camera's original stream (relayed from the device); `namespace/camera/profile` is
the stream a transcoder publishes for one of the recording policy's transcode profiles (lower bitrate, privacy
masks). One path names one camera, so an access decision needs no lookup table from paths to cameras.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_OBJECT_NAME = r"[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?"
_PATH = re.compile(rf"(?P<namespace>{_DNS_LABEL})/(?P<camera>{_OBJECT_NAME})(/(?P<profile>{_DNS_LABEL}))?")


@dataclass(frozen=True)
class StreamPath:
    namespace: str
    camera: str
    profile: str | None = None

    @property
    def camera_ref(self) -> str:
        return f"{self.namespace}/{self.camera}"

    def __str__(self) -> str:
        return self.camera_ref if self.profile is None else f"{self.camera_ref}/{self.profile}"


def parse_stream_path(path: str) -> StreamPath | None:
    """The camera and profile a gateway path names, or None when it follows no camfleet convention."""
    match = _PATH.fullmatch(path.removeprefix("/"))
    if match is None:
        return None
    return StreamPath(match["namespace"], match["camera"], match["profile"])
