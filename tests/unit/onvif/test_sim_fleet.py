"""Fleet definition: generated cameras and fleet files."""

from __future__ import annotations

from pathlib import Path

import pytest

from camfleet.sim.fleet import DEFAULT_SEED, derive_password, generated_fleet, load_fleet_file
from camfleet.sim.state import Fault, Quirk


def test_derived_passwords_are_stable_and_differ_per_camera_and_seed() -> None:
    assert derive_password("s", "cam-0001") == derive_password("s", "cam-0001")
    assert derive_password("s", "cam-0001") != derive_password("s", "cam-0002")
    assert derive_password("s", "cam-0001") != derive_password("t", "cam-0001")
    assert len(derive_password("s", "cam-0001")) == 20


def test_generated_fleet_uses_seeded_passwords_and_shared_settings() -> None:
    fleet = generated_fleet(12, skew_seconds=3600, quirks=["no-ntp"])
    assert list(fleet)[:2] == ["cam-0001", "cam-0002"]
    camera = fleet["cam-0012"]
    assert camera.password == derive_password(DEFAULT_SEED, "cam-0012")
    assert camera.skew_seconds == 3600
    assert camera.has(Quirk.NO_NTP)


def test_fleet_file_sets_ids_credentials_skew_quirks_and_faults(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "seed: demo\n"
        "cameras:\n"
        "  - id: lobby\n"
        "    password: hunter2\n"
        "    skewSeconds: -90\n"
        "    quirks: [fault-not-digest, ignores-set]\n"
        "  - id: gate\n"
        "    username: operator\n"
        "    fault: slow\n"
    )
    fleet = load_fleet_file(path)
    assert fleet["lobby"].password == "hunter2"
    assert fleet["lobby"].skew_seconds == -90
    assert fleet["lobby"].quirks == {Quirk.FAULT_NOT_DIGEST, Quirk.IGNORES_SET}
    assert fleet["gate"].username == "operator"
    assert fleet["gate"].password == derive_password("demo", "gate")
    assert fleet["gate"].fault is Fault.SLOW


def test_unknown_quirk_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text('{"cameras": [{"id": "a", "quirks": ["teleports"]}]}')
    with pytest.raises(ValueError, match="teleports"):
        load_fleet_file(path)
