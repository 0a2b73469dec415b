"""Who may publish to the media gateway: camfleet's own transcoders, each for its one camera.

Viewer tokens never publish. A transcoder authenticates with the user name `camfleet-transcoder` and a password
derived from a secret only the operator holds: HMAC-SHA256(secret, "publish:" + namespace/camera). The operator
puts each camera's password in the transcoder's Secret; the gateway recomputes it, so nothing per camera is
stored, and a leaked password lets its holder publish to that one camera's paths only (`ns/camera` and
`ns/camera/<profile>`), never read, and never another camera. Rotation: list the new secret first and keep the
old one until every transcoder has its new password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

TRANSCODER_USER = "camfleet-transcoder"
MIN_SECRET_BYTES = 32


class PublisherCredentials:
    def __init__(self, secrets: Sequence[bytes]) -> None:
        if not secrets:
            raise ValueError("publisher credentials need at least one secret")
        if any(len(secret) < MIN_SECRET_BYTES for secret in secrets):
            raise ValueError(f"a publisher secret must have at least {MIN_SECRET_BYTES} bytes")
        self._secrets = tuple(secrets)

    def password_for(self, camera: str) -> str:
        """The password the transcoders of camera `namespace/name` publish with (from the current secret)."""
        return _derive(self._secrets[0], camera)

    def accepts(self, user: str, password: str, camera: str) -> bool:
        if not hmac.compare_digest(user.encode(), TRANSCODER_USER.encode()):
            return False
        # Every secret is tried, so the time taken does not tell which one matched.
        matches = [hmac.compare_digest(password.encode(), _derive(secret, camera).encode()) for secret in self._secrets]
        return any(matches)

    def __repr__(self) -> str:
        return f"PublisherCredentials({len(self._secrets)} secrets)"


def _derive(secret: bytes, camera: str) -> str:
    digest = hmac.new(secret, f"publish:{camera}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
