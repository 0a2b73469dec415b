"""Effective permissions on the example fleet, and their explanation."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from camfleet.access import CameraFacts, Effect, GrantFacts, decide, format_explanation
from camfleet.api import AccessTier, Camera, SharingGrant
from camfleet.api.sharing_grant import Permission
from tests.unit.access.builders import CITY, NOW, camera, grant, tier

EXAMPLES = Path(__file__).parents[3] / "examples"


def example(kind: str) -> list[dict[str, Any]]:
    return [
        document
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document and document["kind"] == kind
    ]


CAMERAS = {c.name: c for c in (CameraFacts.from_resource(Camera.model_validate(d)) for d in example("Camera"))}
TIERS = [AccessTier.model_validate(d) for d in example("AccessTier")]
# The examples' grants, as the lifecycle leaves them once approved.
GRANTS = [
    GrantFacts(g.metadata.namespace or "", g.metadata.name or "", g.spec, approved=True)
    for g in map(SharingGrant.model_validate, example("SharingGrant"))
]

TYPHOON = datetime(2030, 8, 11, 10, 0, tzinfo=CITY)
WINTER = datetime(2030, 12, 1, 10, 0, tzinfo=CITY)


@pytest.mark.parametrize(
    ("department", "camera_name", "at", "expected"),
    [
        # level 1 (public-security): every shared camera, restricted or not, with lock
        ("public-security", "licun-river-gauge", TYPHOON, "LiveView Playback PTZControl Export"),
        # level 2 in the flood season only (water-authority)
        ("water-authority", "wusi-square-metro", TYPHOON, "LiveView Playback PTZControl Export"),
        ("water-authority", "wusi-square-metro", WINTER, ""),
        ("water-authority", "no3-middle-school-gate", TYPHOON, ""),
        # level 3 (transport): views downtown, controls nothing there
        ("transport", "taidong-street", TYPHOON, "LiveView Playback"),
        # level 3 in winter only (urban-management), controlling its authorized junction cameras
        ("urban-management", "bay-bridge-km12", WINTER, "LiveView Playback PTZControl"),
        ("urban-management", "bay-bridge-km12", TYPHOON, ""),
        # level 4 (transport): the river gauge
        ("transport", "licun-river-gauge", TYPHOON, "LiveView Playback"),
        # NotShared, reached only by the emergency grant during the typhoon
        ("transport", "city-hall-gate", TYPHOON, "LiveView PTZControl"),
        ("transport", "city-hall-gate", datetime(2030, 8, 12, 18, 0, tzinfo=CITY), ""),
        ("public-security", "city-hall-gate", TYPHOON, "LiveView Playback PTZControl Export"),  # owner
        ("water-authority", "city-hall-gate", TYPHOON, ""),
    ],
)
def test_example_fleet(department: str, camera_name: str, at: datetime, expected: str) -> None:
    decision = decide(department, CAMERAS[camera_name], at, TIERS, GRANTS)
    assert decision.permissions == {Permission(word) for word in expected.split()}


def test_every_permission_has_a_reason_and_the_explanation_shows_them() -> None:
    decision = decide("transport", CAMERAS["city-hall-gate"], TYPHOON, TIERS, GRANTS)
    text = format_explanation(decision)

    assert text.splitlines()[0] == (
        "department transport on camera public-security/city-hall-gate at 2030-08-11T10:00:00+08:00"
    )
    assert "  LiveView:    yes" in text
    assert "  Playback:    no" in text
    assert "  PTZControl:  yes (priority 21)" in text
    assert "  valid until 2030-08-12T18:00:00+08:00" in text
    assert "+ emergency grant transport/typhoon-evacuation-city-hall allows LiveView, PTZControl" in text
    assert "- tier level-3-traffic (level 3) (limited): camera is NotShared" in text
    allowed = [r for r in decision.reasons if r.effect == Effect.ALLOWS]
    assert frozenset().union(*(r.permissions for r in allowed)) == decision.permissions


def test_an_out_of_season_level_is_explained() -> None:
    decision = decide("water-authority", CAMERAS["wusi-square-metro"], WINTER, TIERS, GRANTS)
    assert decision.level is None
    assert decision.valid_until == datetime(2031, 6, 1, tzinfo=CITY)
    assert "held only every year 06-01 to 09-30" in str(decision.reasons[0])


def test_nothing_at_all_is_explained_too() -> None:
    decision = decide("nobody", camera(), NOW, [], [])
    assert decision.permissions == frozenset()
    assert "no ownership, level or grant applies" in format_explanation(decision)


def test_grants_of_other_departments_do_not_count() -> None:
    assert decide("fire-brigade", camera(), NOW, [], [grant(namespace="transport")]).permissions == frozenset()


def test_a_pending_grant_is_explained_but_gives_nothing() -> None:
    decision = decide("transport", camera(), NOW, [], [grant(approved=False)])
    assert decision.permissions == frozenset()
    assert decision.reasons[0].effect == Effect.NOT_IN_FORCE


def test_valid_until_is_the_next_start_or_end_of_a_source() -> None:
    later = grant(name="later", start=NOW + timedelta(hours=2), end=NOW + timedelta(days=2))
    now = grant(name="now", end=NOW + timedelta(days=1))
    assert decide("transport", camera(), NOW, [tier(3, "transport")], [later, now]).valid_until == NOW + timedelta(
        hours=2
    )


def test_decisions_need_an_aware_time() -> None:
    with pytest.raises(ValueError, match="time zone"):
        decide("transport", camera(), datetime(2030, 1, 1), [], [])
