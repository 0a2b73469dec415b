"""Pure decision logic for recording: which policy records a camera, volume sizes, child objects, holds."""
