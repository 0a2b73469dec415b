"""kopf handlers. Importing this package registers every handler with kopf."""

from camfleet.handlers import access, camera, lifecycle, recording, retention_guard

__all__ = ["access", "camera", "lifecycle", "recording", "retention_guard"]
