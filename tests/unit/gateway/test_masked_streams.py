"""Masked unless the owner sees it (R17): the door's decision table for cameras with privacy masks.

Rows: who asks (the owner department, a grantee by token, a tier holder by department), which stream (the
original `ns/camera`, a masking profile, a profile that does not mask) and what the grant's `transcodeProfile`
asks for. A camera without masks keeps the earlier rule (a grant's profile, when named, is its only stream).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from camfleet.access.decision_inputs import CameraFacts
from camfleet.access.masked_streams import StreamVerdict, decide_stream
from camfleet.api.camera import Camera
from camfleet.api.sharing_grant import Permission
from camfleet.gateway import AccessState, Outcome
from tests.unit.access.builders import ME, NOW, OWNER, tier
from tests.unit.gateway.builders import CAMERAS, STREET, VIEW_STREET, state, token_for

LIVE = Permission.LIVE_VIEW
STREET_REF = f"{OWNER}/street"
MASKED_STREET = replace(STREET, privacy_masked=True)
MASKING = frozenset({"masked", "masked-low"})
TIER_HOLDER = "water-authority"


def masked_state(transcode_profile: str | None = None, masking: frozenset[str] = MASKING) -> tuple[AccessState, str]:
    grant = replace(VIEW_STREET, spec=VIEW_STREET.spec.model_copy(update={"transcode_profile": transcode_profile}))
    cameras = [MASKED_STREET, *(c for c in CAMERAS if c.name != "street")]
    access = state(grant, cameras=cameras)
    access.set_masking_profiles(STREET_REF, masking)
    access.set_tier(tier(3, TIER_HOLDER, name="level-3"))
    return access, token_for(grant, cameras=cameras)


# (grant's transcodeProfile, stream asked for, outcome)
GRANTEE_ROWS = [
    (None, None, Outcome.MASKED_ONLY),  # the original is refused
    (None, "masked", Outcome.ALLOWED),
    (None, "masked-low", Outcome.ALLOWED),
    (None, "hd", Outcome.MASKED_ONLY),  # a profile that does not mask
    ("masked", "masked", Outcome.ALLOWED),
    ("masked", "masked-low", Outcome.MASKED_ONLY),  # narrowed to the grant's masking profile
    ("masked", None, Outcome.MASKED_ONLY),
    ("hd", "hd", Outcome.MASKED_ONLY),  # the grant cannot ask its way out of masking
    ("hd", None, Outcome.MASKED_ONLY),
    ("hd", "masked", Outcome.ALLOWED),  # it still gets a masked stream
]


@pytest.mark.parametrize(("asked", "profile", "outcome"), GRANTEE_ROWS)
def test_a_grantee_reads_only_masked_streams_of_a_masked_camera(
    asked: str | None, profile: str | None, outcome: Outcome
) -> None:
    access, token = masked_state(asked)
    decision = access.decide_token(token, STREET_REF, LIVE, NOW, profile)
    assert decision.outcome == outcome, decision.reasons
    if outcome == Outcome.MASKED_ONLY:
        assert "privacy masks" in decision.reasons[0]


@pytest.mark.parametrize(
    ("profile", "outcome"),
    [(None, Outcome.MASKED_ONLY), ("hd", Outcome.MASKED_ONLY), ("masked", Outcome.ALLOWED)],
)
def test_a_tier_holder_reads_only_masked_streams_of_a_masked_camera(profile: str | None, outcome: Outcome) -> None:
    access, _ = masked_state()
    decision = access.decide_department(TIER_HOLDER, STREET_REF, LIVE, NOW, profile)
    assert decision.outcome == outcome, decision.reasons


@pytest.mark.parametrize("profile", [None, "hd", "masked"])
def test_the_owner_reads_every_stream_the_original_included(profile: str | None) -> None:
    access, _ = masked_state()
    assert access.decide_department(OWNER, STREET_REF, LIVE, NOW, profile).allowed


def test_a_grantee_through_department_mode_is_masked_too() -> None:
    access, _ = masked_state()
    assert access.decide_department(ME, STREET_REF, LIVE, NOW).outcome == Outcome.MASKED_ONLY
    assert access.decide_department(ME, STREET_REF, LIVE, NOW, "masked").allowed


def test_a_masked_camera_without_a_masking_profile_is_shown_to_nobody_but_its_owner() -> None:
    access, token = masked_state(masking=frozenset())
    for profile in (None, "hd", "masked"):
        refused = access.decide_token(token, STREET_REF, LIVE, NOW, profile)
        assert refused.outcome == Outcome.MASKED_ONLY
        assert f"only {OWNER} may view it" in refused.reasons[0]
    assert access.decide_department(OWNER, STREET_REF, LIVE, NOW).allowed


def test_an_unmasked_camera_keeps_the_grant_profile_rule_and_tiers_read_the_original() -> None:
    grant = replace(VIEW_STREET, spec=VIEW_STREET.spec.model_copy(update={"transcode_profile": "low"}))
    access = state(grant)
    access.set_tier(tier(3, TIER_HOLDER, name="level-3"))
    token = token_for(grant)
    assert access.decide_token(token, STREET_REF, LIVE, NOW, "low").allowed
    assert access.decide_token(token, STREET_REF, LIVE, NOW).outcome == Outcome.WRONG_PROFILE
    assert access.decide_department(TIER_HOLDER, STREET_REF, LIVE, NOW).allowed


def test_camera_facts_know_a_camera_has_privacy_masks() -> None:
    body = {
        "metadata": {"name": "gate", "namespace": OWNER},
        "spec": {
            "endpoint": "http://127.0.0.1:1/onvif/device_service",
            "credentialsSecretRef": {"name": "gate-onvif"},
            "site": "Site",
            "location": {"category": "street", "description": "corner"},
            "purpose": "traffic",
            "legalBasis": "city classification decision CLS-2030-01",
            "device": {"privacyMasks": [{"name": "w", "polygon": [{"left": 0.1, "top": 0.1}] * 3}]},
        },
    }
    assert CameraFacts.from_resource(Camera.model_validate(body)).privacy_masked
    body["spec"] = {key: value for key, value in body["spec"].items() if key != "device"}
    assert not CameraFacts.from_resource(Camera.model_validate(body)).privacy_masked


def test_the_pure_decision_names_the_masked_streams_a_viewer_may_read() -> None:
    decision = decide_stream(MASKED_STREET, TIER_HOLDER, None, MASKING)
    assert decision.verdict == StreamVerdict.MASKED_ONLY
    assert f"{STREET_REF}/masked, {STREET_REF}/masked-low" in decision.reason
