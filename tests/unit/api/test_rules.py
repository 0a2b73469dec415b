"""Each rule, as pydantic judges it, matches the rule as COMPLIANCE.md states it.

The integration test shows the API server judges the same way; these run without a cluster.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from camfleet.api import AccessTier, FootageExport, SharingGrant, kind_info
from camfleet.api.camera import CameraSpec
from camfleet.api.recording_policy import RecordingPolicySpec
from camfleet.api.rules import CelRule, immutable
from tests.unit.api import strategies
from tests.unit.api.manifests import example_objects

FEW = settings(max_examples=40, deadline=None)

EXAMPLES = {document["metadata"]["name"]: document for _, document in example_objects()}


def accepts(model: Any, document: dict[str, Any]) -> bool:
    try:
        model.model_validate(document)
    except ValidationError:
        return False
    return True


def refusal(model: Any, document: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as error:
        model.model_validate(document)
    return str(error.value)


@pytest.mark.parametrize("kind", strategies.KINDS)
@FEW
@given(data=st.data())
def test_objects_that_follow_every_rule_are_accepted(kind: str, data: st.DataObject) -> None:
    kind_info(kind).model.model_validate(data.draw(strategies.valid_objects(kind)))


@FEW
@given(
    spec=strategies.camera_specs,
    category=st.sampled_from(strategies.FORBIDDEN_CATEGORIES + strategies.ALLOWED_CATEGORIES),
)
def test_r1_cameras_never_watch_private_places(spec: dict[str, Any], category: str) -> None:
    spec = {**spec, "location": {**spec["location"], "category": category}}
    if category in strategies.FORBIDDEN_CATEGORIES:
        assert "(privacy rule R1)" in refusal(CameraSpec, spec)
    else:
        CameraSpec.model_validate(spec)


@FEW
@given(days=st.integers(-5, 100))
def test_r2_recordings_are_kept_at_least_30_days(days: int) -> None:
    spec = {"cameraSelector": {}, "retentionDays": days}
    if days >= 30:
        assert RecordingPolicySpec.model_validate(spec).retention_days == days
    else:
        assert "recordings must be kept at least 30 days (retention rule R2)" in refusal(RecordingPolicySpec, spec)


def emergency_grant(period: dict[str, str]) -> dict[str, Any]:
    grant = copy.deepcopy(EXAMPLES["typhoon-evacuation-city-hall"])
    grant["spec"]["period"] = period
    return grant


def length_of(period: dict[str, str]) -> timedelta:
    return datetime.fromisoformat(period["end"]) - datetime.fromisoformat(period["start"])


@FEW
@given(period=strategies.periods_near(timedelta(hours=72)))
def test_r12_emergency_access_ends_within_72_hours_of_its_start(period: dict[str, str]) -> None:
    grant = emergency_grant(period)
    length = length_of(period)
    if timedelta(0) < length <= timedelta(hours=72):
        SharingGrant.model_validate(grant)
    elif length <= timedelta(0):
        assert "a period must start before it ends" in refusal(SharingGrant, grant)
    else:
        assert "at most 72 hours after it starts (emergency rule R12)" in refusal(SharingGrant, grant)


@FEW
@given(
    share_class=st.sampled_from(["Unconditional", "Conditional"]),
    permissions=st.lists(st.sampled_from(strategies.PERMISSIONS), min_size=1, max_size=4, unique=True),
)
def test_r11_application_needed_beyond_live_view_of_unconditional_data(
    share_class: str, permissions: list[str]
) -> None:
    grant = copy.deepcopy(EXAMPLES["pedestrian-street-playback"])
    del grant["spec"]["application"]
    grant["spec"].update(shareClass=share_class, permissions=permissions)
    if share_class == "Unconditional" and permissions == ["LiveView"]:
        SharingGrant.model_validate(grant)
    else:
        assert "must carry the application" in refusal(SharingGrant, grant)


@pytest.mark.parametrize("field", strategies.APPLICATION_FIELDS)
def test_r11_every_application_field_is_required(field: str) -> None:
    grant = copy.deepcopy(EXAMPLES["pedestrian-street-playback"])
    del grant["spec"]["application"][field]
    assert "(application rule R11)" in refusal(SharingGrant, grant)


def test_r10_not_shared_data_only_in_an_emergency() -> None:
    grant = copy.deepcopy(EXAMPLES["typhoon-evacuation-city-hall"])
    SharingGrant.model_validate(grant)
    del grant["spec"]["emergency"]
    assert "(share class rule R10)" in refusal(SharingGrant, grant)


@FEW
@given(level=st.integers(-3, 8))
def test_r13_there_are_four_levels(level: int) -> None:
    tier = {
        **EXAMPLES["level-1-command-centre"],
        "spec": {**EXAMPLES["level-1-command-centre"]["spec"], "level": level},
    }
    if 1 <= level <= 4:
        assert AccessTier.model_validate(tier).spec.level == level
    else:
        assert "(tier rule R13)" in refusal(AccessTier, tier)


def calendar_day(month_day: str) -> bool:
    """MM-DD of a day that exists in some year (2024 is a leap year, so 02-29 counts)."""
    try:
        return datetime.strptime(f"2024-{month_day}", "%Y-%m-%d").strftime("%m-%d") == month_day
    except ValueError:
        return False


@settings(max_examples=150, deadline=None)
@given(start=strategies.junk_month_days, end=strategies.month_days())
def test_r14_recurring_windows_run_between_real_calendar_days(start: str, end: str) -> None:
    tier = copy.deepcopy(EXAMPLES["level-2-flood-season"])
    tier["spec"]["subjects"][0]["windows"] = [{"recurring": {"start": start, "end": end}}]
    if calendar_day(start):
        AccessTier.model_validate(tier)
    elif len(start) > 5:
        assert "at most 5 characters" in refusal(AccessTier, tier)
    else:
        assert f'"{start}" is not a calendar day; a recurring window runs between real calendar days' in refusal(
            AccessTier, tier
        )


def test_r14_recurring_windows_may_wrap_over_the_new_year() -> None:
    tier = copy.deepcopy(EXAMPLES["level-2-flood-season"])
    tier["spec"]["subjects"][0]["windows"] = [{"recurring": {"start": "11-15", "end": "03-15"}}]
    window = AccessTier.model_validate(tier).spec.subjects[0].windows[0]
    assert window.recurring is not None
    assert window.recurring.start > window.recurring.end


@FEW
@given(period=strategies.periods_near(timedelta(hours=24)))
def test_r15_export_ranges_are_well_formed_and_at_most_a_day(period: dict[str, str]) -> None:
    export = copy.deepcopy(EXAMPLES["taidong-theft-case-0418"])
    export["spec"]["ranges"] = [period]
    length = length_of(period)
    if timedelta(0) < length <= timedelta(hours=24):
        FootageExport.model_validate(export)
    elif length <= timedelta(0):
        assert "a period must start before it ends" in refusal(FootageExport, export)
    else:
        assert "may cover at most 24 hours" in refusal(FootageExport, export)


def test_transition_rules_have_no_python_mirror_and_other_rules_must() -> None:
    assert immutable("x").is_transition_rule
    with pytest.raises(ValueError, match="needs a Python mirror"):
        CelRule(rule="self > 0", message="positive")
