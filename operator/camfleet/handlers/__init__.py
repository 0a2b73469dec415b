"""kopf handlers. Importing this package registers every handler with kopf."""

from camfleet.handlers import camera, lifecycle, recording

__all__ = ["camera", "lifecycle", "recording"]
