"""Properties of effective permissions that must hold for every fleet, tier and grant (R10, R12, R13, R14).

Scenarios are drawn around one moment `at` (windows and grants start and end near it) and lean towards the
department, camera namespace and approved grants that matter, so that the properties are exercised on
decisions that actually allow something, not only on empty ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from camfleet.access import CameraFacts, Decision, Effect, GrantFacts, decide, grant_covers, grant_in_force, hard_expiry
from camfleet.api import AccessTier
from camfleet.api.camera import SecurityLevel, ShareClass
from camfleet.api.sharing_grant import SharingGrantSpec
from tests.unit.access.builders import APPLICATION, CITY

DEPARTMENTS = ["dep-a", "dep-b", "dep-c"]
CAMERA_NAMES = ["cam-1", "cam-2"]
PERMISSIONS = ["LiveView", "Playback", "PTZControl", "Export"]
ORIGIN = datetime(2030, 1, 1, tzinfo=CITY)

month_days = st.dates(date(2000, 1, 1), date(2000, 12, 31)).map(lambda d: d.strftime("%m-%d"))
labels = st.dictionaries(st.sampled_from(["zone", "kind"]), st.sampled_from(["a", "b"]), max_size=2)


@dataclass(frozen=True)
class Scenario:
    department: str
    camera: CameraFacts
    at: datetime
    tiers: list[AccessTier]
    grants: list[GrantFacts]

    def decide(self, at: datetime | None = None, grants: list[GrantFacts] | None = None) -> Decision:
        chosen = self.grants if grants is None else grants
        return decide(self.department, self.camera, at or self.at, self.tiers, chosen)


def near(draw: st.DrawFn, at: datetime) -> datetime:
    return at + timedelta(hours=draw(st.integers(-100, 100)))


def usually(draw: st.DrawFn, value: str) -> str:
    """`value` two times in three, otherwise any department."""
    return draw(st.sampled_from([value, value, *DEPARTMENTS]))


def selection(draw: st.DrawFn, camera: CameraFacts) -> dict[str, Any]:
    namespace = usually(draw, camera.namespace)
    if draw(st.booleans()):
        return {"namespace": namespace, "names": draw(st.lists(st.sampled_from(CAMERA_NAMES), min_size=1, unique=True))}
    return {"namespace": namespace, "selector": {"matchLabels": draw(labels)}}


def window(draw: st.DrawFn, at: datetime, only_ending: bool) -> dict[str, Any]:
    if not only_ending and draw(st.booleans()):
        return {"recurring": {"start": draw(month_days), "end": draw(month_days)}}
    start = near(draw, at)
    return {
        "absolute": {
            "start": start.isoformat(),
            "end": (start + timedelta(hours=draw(st.integers(1, 200)))).isoformat(),
        }
    }


def tier(
    draw: st.DrawFn, index: int, scenario_department: str, camera: CameraFacts, at: datetime, only_ending: bool
) -> AccessTier:
    departments = {usually(draw, scenario_department) for _ in range(draw(st.integers(1, 2)))}
    subjects = [
        {
            "department": department,
            "windows": [window(draw, at, only_ending) for _ in range(draw(st.integers(1 if only_ending else 0, 2)))],
        }
        for department in sorted(departments)
    ]
    spec = {
        "level": draw(st.integers(1, 4)),
        "subjects": subjects,
        "authorizedCameras": [selection(draw, camera) for _ in range(draw(st.integers(0, 2)))],
    }
    return AccessTier.model_validate({"metadata": {"name": f"tier-{index}"}, "spec": spec})


def grant(
    draw: st.DrawFn, name: str, department: str, camera: CameraFacts, at: datetime, emergency: bool | None
) -> GrantFacts:
    is_emergency = draw(st.booleans()) if emergency is None else emergency
    share_class = draw(st.sampled_from(ShareClass))
    if share_class == ShareClass.NOT_SHARED and not is_emergency:
        share_class = ShareClass.CONDITIONAL  # the API allows NotShared grants only for emergencies
    start = near(draw, at)
    body: dict[str, Any] = {
        "cameras": selection(draw, camera),
        "shareClass": share_class.value,
        "permissions": draw(st.lists(st.sampled_from(PERMISSIONS), min_size=1, unique=True)),
        "period": {"start": start.isoformat(), "end": (start + timedelta(hours=draw(st.integers(1, 72)))).isoformat()},
        "purpose": "property",
        "application": APPLICATION,
    }
    if is_emergency:
        body["emergency"] = {"incidentReference": "INC"}
    return GrantFacts(
        namespace=usually(draw, department),
        name=name,
        spec=SharingGrantSpec.model_validate(body),
        approved=draw(st.sampled_from([True, True, True, False])),
        revoked=draw(st.sampled_from([False, False, False, True])),
    )


@st.composite
def scenarios(
    draw: st.DrawFn, only_ending: bool = False, emergency: bool | None = None, share_class: ShareClass | None = None
) -> Scenario:
    department = draw(st.sampled_from(DEPARTMENTS))
    others = [d for d in DEPARTMENTS if d != department]
    camera = CameraFacts(
        namespace=draw(st.sampled_from([*others, *others, department])),  # mostly someone else's camera
        name=draw(st.sampled_from(CAMERA_NAMES)),
        security_level=draw(st.sampled_from(SecurityLevel)),
        share_class=share_class or draw(st.sampled_from(ShareClass)),
        labels=draw(labels),
    )
    at = ORIGIN + timedelta(hours=draw(st.integers(0, 2 * 365 * 24)))
    tiers = [tier(draw, i, department, camera, at, only_ending) for i in range(draw(st.integers(0, 3)))]
    grants = [grant(draw, f"grant-{i}", department, camera, at, emergency) for i in range(draw(st.integers(0, 4)))]
    return Scenario(department, camera, at, tiers, grants)


@st.composite
def extra_grants(draw: st.DrawFn, scenario: Scenario) -> GrantFacts:
    return grant(draw, "extra", scenario.department, scenario.camera, scenario.at, None)


def priority(decision: Decision) -> int:
    return -1 if decision.ptz_priority is None else decision.ptz_priority


@given(scenarios())
def test_every_permission_comes_from_a_source_that_allows_it(scenario: Scenario) -> None:
    decision = scenario.decide()
    allowed = [reason.permissions for reason in decision.reasons if reason.effect == Effect.ALLOWS]
    assert frozenset().union(*allowed) == decision.permissions


@given(scenarios(only_ending=True), st.integers(0, 10_000))
def test_no_permission_outlives_all_of_its_sources(scenario: Scenario, hours: int) -> None:
    assume(scenario.camera.namespace != scenario.department)  # ownership never ends
    ends = [
        w.absolute.end for t in scenario.tiers for s in t.spec.subjects for w in s.windows if w.absolute is not None
    ] + [hard_expiry(g.spec) for g in scenario.grants]
    after_all = max([scenario.at, *ends]) + timedelta(hours=hours)

    decision = scenario.decide(after_all)

    assert (decision.permissions, decision.ptz_priority, decision.can_lock) == (frozenset(), None, False)
    assert decision.valid_until is None


@given(scenarios(share_class=ShareClass.NOT_SHARED))
def test_not_shared_cameras_open_to_others_only_through_an_emergency_grant_in_force(scenario: Scenario) -> None:
    assume(scenario.camera.namespace != scenario.department)
    if scenario.decide().permissions:
        assert any(
            g.namespace == scenario.department
            and g.emergency
            and grant_in_force(g, scenario.at)
            and grant_covers(g.spec, scenario.camera)
            for g in scenario.grants
        )


@given(scenarios(share_class=ShareClass.NOT_SHARED, emergency=False))
def test_no_level_sees_a_not_shared_camera_without_an_emergency_grant(scenario: Scenario) -> None:
    assume(scenario.camera.namespace != scenario.department)
    decision = scenario.decide()
    assert (decision.permissions, decision.ptz_priority, decision.can_lock) == (frozenset(), None, False)


@given(scenarios(), st.data())
def test_adding_a_grant_never_removes_a_permission(scenario: Scenario, data: st.DataObject) -> None:
    extra = data.draw(extra_grants(scenario))
    before = scenario.decide()
    after = scenario.decide(grants=[*scenario.grants, extra])
    assert before.permissions <= after.permissions
    assert priority(before) <= priority(after)
    assert after.can_lock or not before.can_lock


@given(scenarios())
def test_decisions_are_deterministic_and_ignore_input_order(scenario: Scenario) -> None:
    first = scenario.decide()
    assert scenario.decide() == first
    shuffled = decide(scenario.department, scenario.camera, scenario.at, scenario.tiers[::-1], scenario.grants[::-1])
    assert shuffled == first
