"""Which cameras a simulator run serves: generated (`--cameras N`) or read from a fleet file.

Fleet file (YAML or JSON)::

    seed: demo                 # optional; derives passwords not given explicitly
    cameras:
      - id: lobby
        username: admin        # optional, default admin
        password: s3cret       # optional, default derived from seed and id
        skewSeconds: 3600      # optional
        quirks: [no-ntp]       # optional, see camfleet.sim.state.Quirk
        personality: vendor-a  # optional, a named set of quirks (camfleet.sim.state.PERSONALITIES), added to quirks
        fault: none            # optional, see camfleet.sim.state.Fault

Passwords are never printed; tests and the demo derive them with `derive_password(seed, id)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from camfleet.sim.state import Camera, Fault, Quirk, personality

DEFAULT_SEED = "camfleet-sim"
DEFAULT_USERNAME = "admin"


def derive_password(seed: str, camera_id: str) -> str:
    """A stable per-camera password: 20 URL-safe characters from HMAC-SHA256(seed, id)."""
    digest = hmac.new(seed.encode(), camera_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:20]


def camera_ids(count: int) -> list[str]:
    width = max(4, len(str(count)))
    return [f"cam-{i:0{width}d}" for i in range(1, count + 1)]


def generated_fleet(
    count: int,
    seed: str = DEFAULT_SEED,
    skew_seconds: float = 0.0,
    quirks: Iterable[str] = (),
) -> dict[str, Camera]:
    quirk_set = frozenset(Quirk(q) for q in quirks)
    return {
        camera_id: Camera(
            camera_id=camera_id,
            username=DEFAULT_USERNAME,
            password=derive_password(seed, camera_id),
            skew_seconds=skew_seconds,
            quirks=quirk_set,
        )
        for camera_id in camera_ids(count)
    }


def fleet_from_document(document: Mapping[str, Any], seed: str = DEFAULT_SEED) -> dict[str, Camera]:
    seed = str(document.get("seed", seed))
    cameras: dict[str, Camera] = {}
    for entry in document.get("cameras", []):
        camera_id = str(entry["id"])
        if camera_id in cameras or "/" in camera_id:
            raise ValueError(f"camera id {camera_id!r} is duplicated or contains '/'")
        cameras[camera_id] = Camera(
            camera_id=camera_id,
            username=str(entry.get("username", DEFAULT_USERNAME)),
            password=str(entry.get("password") or derive_password(seed, camera_id)),
            skew_seconds=float(entry.get("skewSeconds", 0.0)),
            quirks=frozenset(Quirk(q) for q in entry.get("quirks", []))
            | personality(str(entry.get("personality", "standard"))),
            fault=Fault(entry.get("fault", Fault.NONE)),
        )
    return cameras


def load_fleet_file(path: Path, seed: str = DEFAULT_SEED) -> dict[str, Camera]:
    text = path.read_text()
    document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(document, Mapping):
        raise ValueError(f"{path}: expected a mapping with a 'cameras' list")
    return fleet_from_document(document, seed)
