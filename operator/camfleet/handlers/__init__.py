"""kopf handlers. Importing this package registers every handler with kopf."""

from camfleet.handlers import access, authority, camera, lifecycle, recording, retention_guard

__all__ = ["access", "authority", "camera", "lifecycle", "recording", "retention_guard"]
