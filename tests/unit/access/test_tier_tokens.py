"""Tier credentials (R18, issue 19 point 3): what they state, how they verify, when they are re-written, and what the
door does with them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from camfleet.access.city_time import DEFAULT_CALENDAR
from camfleet.access.tier_tokens import (
    CREDENTIAL_LIFETIME,
    ROTATE_BEFORE,
    Issued,
    claims_for_tier,
    issue_tier,
    needs_new_credential,
    scope_digest,
    verify_tier,
)
from camfleet.access.tokens import InvalidClaims, TokenExpired, verify
from camfleet.api import AccessTier
from camfleet.api.sharing_grant import Permission
from camfleet.controllers.tier_credentials import LONGEST_SLEEP, next_pass_in, tier_secret, tier_secret_name
from camfleet.gateway import AccessState, Outcome
from tests.unit.access.builders import ME, NOW, OWNER, camera
from tests.unit.gateway.builders import KEYS, VIEW_STREET, token_for

STREET = camera("street")
VAULT = camera("vault", restricted=True)
CAMERAS = (STREET, VAULT)
WINDOW_END = NOW + timedelta(minutes=20)


def tier(level: int, windows: list[dict[str, Any]] | None = None, uid: str = "tier-uid-1") -> AccessTier:
    subject: dict[str, Any] = {"department": ME}
    if windows is not None:
        subject["windows"] = windows
    return AccessTier.model_validate(
        {
            "metadata": {"name": f"flood-level-{level}", "uid": uid},
            "spec": {"level": level, "subjects": [subject]},
        }
    )


def in_window(level: int = 2) -> AccessTier:
    window = {"absolute": {"start": (NOW - timedelta(hours=1)).isoformat(), "end": WINDOW_END.isoformat()}}
    return tier(level, [window])


def door(*tiers: AccessTier) -> AccessState:
    state = AccessState(KEYS)
    for each in CAMERAS:
        state.set_camera(each)
    for each in tiers:
        state.set_tier(each)
    return state


def test_the_credential_states_level_scope_and_an_expiry_no_later_than_the_window() -> None:
    claims = claims_for_tier(in_window(2), ME, CAMERAS, NOW)

    assert (claims.department, claims.level, claims.tier) == (ME, 2, "flood-level-2")
    assert claims.cameras == {f"{OWNER}/street"}, "level 2 does not reach restricted zones"
    assert claims.expires_at == WINDOW_END
    assert claims_for_tier(in_window(1), ME, CAMERAS, NOW).cameras == {f"{OWNER}/street", f"{OWNER}/vault"}
    assert claims_for_tier(tier(1), ME, CAMERAS, NOW).expires_at == NOW + CREDENTIAL_LIFETIME, "no window: a lifetime"


def test_a_tier_credential_verifies_with_the_grant_keys_and_neither_kind_passes_for_the_other() -> None:
    claims = claims_for_tier(in_window(), ME, CAMERAS, NOW)
    token = issue_tier(claims, KEYS)

    read = verify_tier(token, KEYS, NOW)
    assert (read.level, read.cameras, read.credential_id) == (2, claims.cameras, claims.credential_id)
    with pytest.raises(InvalidClaims):
        verify(token, KEYS, NOW)  # not a grant token
    with pytest.raises(InvalidClaims):
        verify_tier(token_for(VIEW_STREET), KEYS, NOW)  # not a tier credential
    with pytest.raises(TokenExpired):
        verify_tier(token, KEYS, WINDOW_END)


def test_a_credential_is_rewritten_on_a_change_of_scope_before_it_expires_and_when_the_window_shortens() -> None:
    claims = claims_for_tier(tier(2), ME, CAMERAS, NOW)
    issued = Issued(scope_digest(claims), claims.expires_at)

    assert not needs_new_credential(issued, claims_for_tier(tier(2), ME, CAMERAS, NOW + timedelta(minutes=5)), NOW)
    assert needs_new_credential(None, claims, NOW)
    assert needs_new_credential(issued, claims_for_tier(tier(1), ME, CAMERAS, NOW), NOW), "another level"
    assert needs_new_credential(issued, claims_for_tier(tier(2), ME, (STREET,), NOW), NOW) is False
    assert needs_new_credential(issued, claims_for_tier(tier(2), ME, (camera("new"),), NOW), NOW), "another scope"
    later = NOW + CREDENTIAL_LIFETIME - ROTATE_BEFORE
    assert needs_new_credential(issued, claims_for_tier(tier(2), ME, CAMERAS, later), later), "rotation"
    assert needs_new_credential(issued, claims_for_tier(in_window(), ME, CAMERAS, NOW), NOW), "the window shortened"


def test_the_door_accepts_the_credential_inside_the_window_by_the_levels_rules_only() -> None:
    state = door(in_window(2))
    token = issue_tier(claims_for_tier(in_window(2), ME, CAMERAS, NOW), KEYS)

    allowed = state.decide_token(token, f"{OWNER}/street", Permission.LIVE_VIEW, NOW)
    assert (allowed.allowed, allowed.department, allowed.tier) == (True, ME, "flood-level-2")
    assert state.decide_token(token, f"{OWNER}/street", Permission.PTZ_CONTROL, NOW).allowed
    assert state.decide_token(token, f"{OWNER}/vault", Permission.LIVE_VIEW, NOW).outcome == Outcome.NOT_IN_TOKEN


def test_the_door_refuses_the_credential_at_the_windows_end_on_revocation_and_when_the_tier_goes() -> None:
    claims = claims_for_tier(in_window(2), ME, CAMERAS, NOW)
    token = issue_tier(claims, KEYS)
    street = f"{OWNER}/street"

    assert door(in_window(2)).decide_token(token, street, Permission.LIVE_VIEW, WINDOW_END).outcome == (
        Outcome.TOKEN_EXPIRED
    )
    revoked = door(in_window(2))
    revoked.revoke(claims.credential_id)
    assert revoked.decide_token(token, street, Permission.LIVE_VIEW, NOW).outcome == Outcome.REVOKED
    assert door().decide_token(token, street, Permission.LIVE_VIEW, NOW).outcome == Outcome.UNKNOWN_GRANT
    replaced = door(tier(2, uid="tier-uid-2"))  # deleted and created again: the old credentials are not its own
    assert replaced.decide_token(token, street, Permission.LIVE_VIEW, NOW).outcome == Outcome.UNKNOWN_GRANT
    closed = tier(2, [{"absolute": {"start": (NOW - timedelta(hours=2)).isoformat(), "end": NOW.isoformat()}}])
    assert door(closed).decide_token(token, street, Permission.LIVE_VIEW, NOW).outcome == Outcome.GRANT_NOT_IN_FORCE


def test_level_4_gets_a_credential_that_views_its_subset_but_never_controls() -> None:
    level_4 = AccessTier.model_validate(
        {
            "metadata": {"name": "viewers", "uid": "u4"},
            "spec": {
                "level": 4,
                "subjects": [{"department": ME}],
                "authorizedCameras": [{"namespace": OWNER, "names": ["street"]}],
            },
        }
    )
    claims = claims_for_tier(level_4, ME, CAMERAS, NOW)
    token = issue_tier(claims, KEYS)

    assert claims.cameras == {f"{OWNER}/street"}
    assert door(level_4).decide_token(token, f"{OWNER}/street", Permission.LIVE_VIEW, NOW).allowed
    refused = door(level_4).decide_token(token, f"{OWNER}/street", Permission.PTZ_CONTROL, NOW)
    assert refused.outcome == Outcome.NOT_GRANTED


def test_the_secret_is_the_departments_owned_by_the_tier_and_states_level_and_expiry() -> None:
    claims = claims_for_tier(in_window(2), ME, CAMERAS, NOW)
    secret = tier_secret(in_window(2), claims, "TOKEN")
    meta: Any = secret["metadata"]

    assert (meta["name"], meta["namespace"]) == (tier_secret_name("flood-level-2"), ME)
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "camfleet"
    assert meta["ownerReferences"][0]["kind"] == "AccessTier"
    assert meta["ownerReferences"][0]["uid"] == "tier-uid-1"
    data: Any = secret["stringData"]
    assert (data["level"], data["expiresAt"], data["cameras"]) == ("2", WINDOW_END.isoformat(), f"{OWNER}/street")


def test_the_next_pass_comes_at_the_windows_end_or_the_rotation_whichever_is_first() -> None:
    closing = tier(2, [{"absolute": {"start": NOW.isoformat(), "end": (NOW + timedelta(seconds=3)).isoformat()}}])
    issued = Issued("d", NOW + timedelta(hours=1))

    assert next_pass_in([closing], [], NOW + timedelta(seconds=1), DEFAULT_CALENDAR) == pytest.approx(2.0)
    assert next_pass_in([in_window()], [], NOW, DEFAULT_CALENDAR) == LONGEST_SLEEP, "far boundaries: a periodic pass"
    rotation = NOW + timedelta(hours=1) - ROTATE_BEFORE - timedelta(seconds=5)
    assert next_pass_in([], [issued], rotation, DEFAULT_CALENDAR) == pytest.approx(5.0)


def test_a_configured_lifetime_and_rotation_lead_decide_expiry_rotation_and_the_next_pass() -> None:
    lifetime, lead = timedelta(seconds=40), timedelta(seconds=25)  # camfleet run --tier-credential-*-seconds
    claims = claims_for_tier(tier(2), ME, CAMERAS, NOW, lifetime=lifetime)
    assert claims.expires_at == NOW + lifetime
    issued = Issued(scope_digest(claims), claims.expires_at)

    just_before = NOW + lifetime - lead - timedelta(seconds=1)
    assert not needs_new_credential(issued, claims_for_tier(tier(2), ME, CAMERAS, just_before, lifetime=lifetime),
                                    just_before, lead)  # fmt: skip
    due = NOW + lifetime - lead
    assert needs_new_credential(issued, claims_for_tier(tier(2), ME, CAMERAS, due, lifetime=lifetime), due, lead)
    assert next_pass_in([], [issued], NOW, DEFAULT_CALENDAR, lead) == pytest.approx(15.0)


def test_a_credential_is_valid_the_moment_it_is_issued() -> None:
    issued_at = NOW + timedelta(milliseconds=400)
    token = issue_tier(claims_for_tier(in_window(), ME, CAMERAS, issued_at), KEYS)

    assert door(in_window()).decide_token(token, f"{OWNER}/street", Permission.LIVE_VIEW, issued_at).allowed
