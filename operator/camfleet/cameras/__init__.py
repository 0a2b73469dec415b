"""Pure decision logic for Cameras: spec and observed device state in, status out."""
