"""ONVIF camera simulator: many stateful SOAP cameras on one aiohttp server, plus a shared RTSP stream.

Entry points: `main(argv)` (CLI, `python -m camfleet.sim`), `serve(...)` (long-running), and
`Simulator` (an async context manager for tests). Password of a generated camera:
`derive_password(seed, camera_id)`.
"""

from camfleet.sim.app import main, serve
from camfleet.sim.fleet import DEFAULT_SEED, DEFAULT_USERNAME, derive_password, generated_fleet, load_fleet_file
from camfleet.sim.rtsp import RtspServer
from camfleet.sim.server import Simulator
from camfleet.sim.state import Camera, Fault, Quirk

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_USERNAME",
    "Camera",
    "Fault",
    "Quirk",
    "RtspServer",
    "Simulator",
    "derive_password",
    "generated_fleet",
    "load_fleet_file",
    "main",
    "serve",
]
