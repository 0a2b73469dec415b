"""Decisions from the in-memory access state: a token opens the door only while the live state agrees."""

from __future__ import annotations

from dataclasses import replace

import pytest

from camfleet.access.tokens import SigningKeys, claims_for_grant, issue
from camfleet.api.camera import ShareClass
from camfleet.api.sharing_grant import Permission
from camfleet.gateway import AccessState, Outcome
from tests.unit.access.builders import ME, NOW, OWNER, grant, tier
from tests.unit.gateway.builders import (
    CITY_HALL,
    EMERGENCY,
    KEYS,
    STREET,
    UID,
    VIEW_STREET,
    alg_none_token,
    forged_token,
    state,
    token_for,
    widened_claims,
)

LIVE = Permission.LIVE_VIEW
STREET_REF = f"{OWNER}/street"


def test_a_valid_grant_token_allows_what_the_grant_gives() -> None:
    decision = state().decide_token(token_for(VIEW_STREET), STREET_REF, LIVE, NOW)

    assert decision.allowed
    assert decision.outcome == Outcome.ALLOWED
    assert (decision.department, decision.grant, decision.grant_id) == (ME, f"{ME}/view-street", UID["view-street"])
    assert any("grant transport/view-street allows LiveView" in reason for reason in decision.reasons)


def test_revocation_closes_the_door_while_the_token_is_still_valid() -> None:
    access = state()
    token = token_for(VIEW_STREET)
    assert access.decide_token(token, STREET_REF, LIVE, NOW).allowed

    access.revoke(UID["view-street"])

    decision = access.decide_token(token, STREET_REF, LIVE, NOW)
    assert not decision.allowed
    assert decision.outcome == Outcome.REVOKED


def test_revocation_sticks_when_a_stale_copy_of_the_grant_arrives() -> None:
    access = state()
    access.revoke(UID["view-street"])
    access.set_grant(UID["view-street"], VIEW_STREET)  # the watch delivers the object from before the revocation

    assert access.decide_token(token_for(VIEW_STREET), STREET_REF, LIVE, NOW).outcome == Outcome.REVOKED
    assert access.decide_department(ME, STREET_REF, LIVE, NOW).outcome == Outcome.NOT_GRANTED


def test_a_grant_revoked_in_its_status_is_refused() -> None:
    access = state(replace(VIEW_STREET, revoked=True))

    assert access.decide_token(token_for(VIEW_STREET), STREET_REF, LIVE, NOW).outcome == Outcome.REVOKED


def test_a_removed_grant_grants_nothing() -> None:
    access = state()
    access.remove_grant(UID["view-street"])

    assert access.decide_token(token_for(VIEW_STREET), STREET_REF, LIVE, NOW).outcome == Outcome.UNKNOWN_GRANT
    assert access.grant_count() == 1


def test_a_token_past_its_expiry_is_refused() -> None:
    late = VIEW_STREET.spec.period.end

    decision = state().decide_token(token_for(VIEW_STREET), STREET_REF, LIVE, late)

    assert decision.outcome == Outcome.TOKEN_EXPIRED


def test_an_unapproved_grant_is_not_in_force() -> None:
    access = state(replace(VIEW_STREET, approved=False))

    decision = access.decide_token(token_for(VIEW_STREET), STREET_REF, LIVE, NOW)

    assert decision.outcome == Outcome.GRANT_NOT_IN_FORCE
    assert "not approved" in decision.reasons[0]


def test_wrong_signature_and_alg_none_are_refused() -> None:
    access = state()
    unsigned = alg_none_token(widened_claims(VIEW_STREET))

    for token in (forged_token(VIEW_STREET), unsigned):
        decision = access.decide_token(token, STREET_REF, LIVE, NOW)
        assert decision.outcome == Outcome.INVALID_TOKEN
        assert token not in " ".join(decision.reasons)


def test_no_token_and_no_keys_are_refused() -> None:
    assert state().decide_token(None, STREET_REF, LIVE, NOW).outcome == Outcome.NO_CREDENTIALS
    assert state().decide_token("", STREET_REF, LIVE, NOW).outcome == Outcome.NO_CREDENTIALS
    keyless = AccessState()
    assert keyless.decide_token(token_for(VIEW_STREET), STREET_REF, LIVE, NOW).outcome == Outcome.INVALID_TOKEN


def test_another_camera_or_permission_than_the_token_states_is_refused() -> None:
    access = state()
    token = token_for(VIEW_STREET)

    assert access.decide_token(token, f"{OWNER}/harbour", LIVE, NOW).outcome == Outcome.NOT_IN_TOKEN
    assert access.decide_token(token, STREET_REF, Permission.PLAYBACK, NOW).outcome == Outcome.NOT_IN_TOKEN


def test_a_not_shared_camera_stays_closed_without_an_emergency_even_if_a_token_names_it() -> None:
    # An issuer bug writes the NotShared camera into a normal grant's token: the live state still refuses.
    wide = grant(name="view-street", cameras={"namespace": OWNER, "selector": {}}, permissions=("LiveView",))
    access = state(wide)
    token = issue(widened_claims(wide, cameras=frozenset({f"{OWNER}/city-hall"})), KEYS)

    decision = access.decide_token(token, f"{OWNER}/city-hall", LIVE, NOW)

    assert not decision.allowed
    assert decision.outcome == Outcome.NOT_GRANTED
    assert "NotShared" in decision.reasons[0]


def test_an_emergency_grant_opens_a_not_shared_camera_until_its_hard_expiry() -> None:
    access = state()
    token = token_for(EMERGENCY)
    city_hall = CITY_HALL.ref

    assert access.decide_token(token, city_hall, Permission.PLAYBACK, NOW).allowed
    end = EMERGENCY.spec.period.end
    assert not access.decide_token(token, city_hall, LIVE, end).allowed


def test_a_camera_changed_since_the_token_was_issued_is_judged_as_it_is_now() -> None:
    access = state()
    token = token_for(VIEW_STREET)

    access.set_camera(replace(STREET, share_class=ShareClass.NOT_SHARED))
    assert access.decide_token(token, STREET_REF, LIVE, NOW).outcome == Outcome.NOT_GRANTED

    access.remove_camera(OWNER, "street")
    assert access.decide_token(token, STREET_REF, LIVE, NOW).outcome == Outcome.UNKNOWN_CAMERA


def test_a_camera_no_longer_selected_is_refused() -> None:
    by_label = grant(
        name="view-street", cameras={"namespace": OWNER, "selector": {"matchLabels": {"district": "downtown"}}}
    )
    access = state(by_label)
    token = token_for(by_label)
    assert access.decide_token(token, STREET_REF, LIVE, NOW).allowed

    access.set_camera(replace(STREET, labels={"district": "elsewhere"}))

    assert access.decide_token(token, STREET_REF, LIVE, NOW).outcome == Outcome.NOT_GRANTED


def test_a_grant_limited_to_a_profile_opens_only_that_stream() -> None:
    masked = replace(VIEW_STREET, spec=VIEW_STREET.spec.model_copy(update={"transcode_profile": "masked"}))
    access = state(masked)
    token = token_for(masked)

    assert access.decide_token(token, STREET_REF, LIVE, NOW, profile="masked").allowed
    assert access.decide_token(token, STREET_REF, LIVE, NOW).outcome == Outcome.WRONG_PROFILE
    assert access.decide_token(token, STREET_REF, LIVE, NOW, profile="hd").outcome == Outcome.WRONG_PROFILE


def test_a_token_of_another_grant_with_the_same_uid_is_refused() -> None:
    access = state()
    imposter = widened_claims(VIEW_STREET, grant=f"{ME}/other-name")

    assert access.decide_token(issue(imposter, KEYS), STREET_REF, LIVE, NOW).outcome == Outcome.UNKNOWN_GRANT


def test_new_keys_refuse_tokens_remembered_from_the_old_ones() -> None:
    access = state()
    token = token_for(VIEW_STREET)
    assert access.decide_token(token, STREET_REF, LIVE, NOW).allowed  # now remembered

    access.set_keys(SigningKeys.generate(NOW))

    assert access.decide_token(token, STREET_REF, LIVE, NOW).outcome == Outcome.INVALID_TOKEN


def test_a_remembered_token_still_expires() -> None:
    access = state()
    token = token_for(VIEW_STREET)
    assert access.decide_token(token, STREET_REF, LIVE, NOW).allowed

    assert access.decide_token(token, STREET_REF, LIVE, VIEW_STREET.spec.period.end).outcome == Outcome.TOKEN_EXPIRED


def test_rotation_keeps_tokens_of_the_previous_key_working() -> None:
    access = state()
    token = token_for(VIEW_STREET)

    access.set_keys(KEYS.rotate(NOW, keep_previous_until=VIEW_STREET.spec.period.end))

    assert access.decide_token(token, STREET_REF, LIVE, NOW).allowed


# -- departments (the whole engine, for gateways that authenticate users themselves) ------------------------------


def test_a_department_decision_uses_tiers_and_grants() -> None:
    access = state()
    access.set_tier(tier(3, "water-authority", name="level-3"))

    assert access.decide_department("water-authority", STREET_REF, Permission.PLAYBACK, NOW).allowed
    assert not access.decide_department("water-authority", STREET_REF, Permission.PTZ_CONTROL, NOW).allowed
    assert access.decide_department(ME, STREET_REF, LIVE, NOW).allowed  # through the grant
    assert access.decide_department(OWNER, STREET_REF, Permission.EXPORT, NOW).allowed  # the owner

    access.remove_tier("level-3")
    denied = access.decide_department("water-authority", STREET_REF, LIVE, NOW)
    assert not denied.allowed
    assert denied.reasons[0] == f"water-authority has no LiveView on {STREET_REF}"


def test_a_tier_replaced_with_other_subjects_forgets_the_old_ones() -> None:
    access = state()
    access.set_tier(tier(3, "water-authority", name="level-3"))
    access.set_tier(tier(3, "urban-management", name="level-3"))

    assert not access.decide_department("water-authority", STREET_REF, LIVE, NOW).allowed
    assert access.decide_department("urban-management", STREET_REF, LIVE, NOW).allowed


def test_a_department_decision_on_an_unknown_camera_is_refused() -> None:
    assert state().decide_department(OWNER, f"{OWNER}/nowhere", LIVE, NOW).outcome == Outcome.UNKNOWN_CAMERA


def test_forgetting_revocations_keeps_those_of_grants_still_loaded() -> None:
    access = state()
    access.revoke(UID["view-street"])
    access.revoke("gone")

    access.forget_revocations([UID["view-street"], "gone"])

    assert access.is_revoked(UID["view-street"])
    assert not access.is_revoked("gone")


def test_a_tier_needs_a_name() -> None:
    nameless = tier(1, OWNER)
    nameless.metadata.name = None
    with pytest.raises(ValueError, match=r"metadata\.name"):
        AccessState().set_tier(nameless)


def test_ten_thousand_grants_decide_from_indexes() -> None:
    access = AccessState(KEYS)
    access.set_camera(STREET)
    for n in range(10_000):
        access.set_grant(f"uid-{n}", grant(name=f"g-{n}", namespace=f"dept-{n % 100}", permissions=("LiveView",)))
    one = grant(name="g-4242", namespace="dept-42", permissions=("LiveView",))

    token = issue(claims_for_grant(one, "uid-4242", [STREET], None, NOW), KEYS)

    assert access.grant_count() == 10_000
    assert access.decide_token(token, STREET_REF, LIVE, NOW).allowed
    assert access.decide_department("dept-42", STREET_REF, LIVE, NOW).allowed
