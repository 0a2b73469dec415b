"""R13 binds grants: the full table of level x permission a grant can give, and the sealed admission stamps."""

from __future__ import annotations

import pytest

from camfleet.access.identity import StampError, read_stamp, seal, stamp_payload
from camfleet.access.tier_table import NO_LEVEL_TREATED_AS, narrow_to_level
from camfleet.api.sharing_grant import Permission

L, P, C, E = Permission.LIVE_VIEW, Permission.PLAYBACK, Permission.PTZ_CONTROL, Permission.EXPORT
ALL = frozenset(Permission)

# level -> permission -> may a grant give it (QD-TIERS art. 16): L4 views only, L3 also controls its authorized
# cameras (those its grants name), extraction only for L1 and L2; no level at all counts as L4.
TABLE = {
    1: {L: True, P: True, C: True, E: True},
    2: {L: True, P: True, C: True, E: True},
    3: {L: True, P: True, C: True, E: False},
    4: {L: True, P: True, C: False, E: False},
    None: {L: True, P: True, C: False, E: False},
}


@pytest.mark.parametrize("level", list(TABLE))
@pytest.mark.parametrize("permission", list(Permission))
def test_the_full_table(level: int | None, permission: Permission) -> None:
    narrowing = narrow_to_level(frozenset({permission}), level)
    assert (permission in narrowing.kept) is TABLE[level][permission]
    assert (permission in narrowing.dropped) is not TABLE[level][permission]
    if narrowing.dropped:
        assert permission.value in narrowing.because
        assert "(R13)" in narrowing.because


def test_no_level_is_treated_as_level_4_and_says_so() -> None:
    narrowing = narrow_to_level(ALL, None)
    assert narrowing.level == NO_LEVEL_TREATED_AS == 4
    assert "holds no level and is treated as level 4" in narrowing.because


def test_nothing_dropped_says_nothing() -> None:
    assert narrow_to_level(ALL, 1).because == ""


KEY = b"s" * 32


def payload() -> dict[str, object]:
    return stamp_payload("alice", ["g"], ("owner", "a1"), verdict="Approve", target=("SharingGrant", "t", "g"))


def test_a_sealed_stamp_reads_back() -> None:
    stamp = read_stamp([KEY], seal(KEY, payload()))
    assert (stamp.username, stamp.subject_name, stamp.target_name) == ("alice", "a1", "g")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (None, "has no stamp"),
        ("not json", "unreadable"),
        ('{"user": {"username": "mayor"}}', "without a seal"),
        (seal(b"o" * 32, payload()), "does not verify"),
        (seal(KEY, payload()).replace('"alice"', '"mayor"'), "does not verify"),
    ],
)
def test_typed_altered_or_foreign_stamps_are_refused(raw: str | None, words: str) -> None:
    with pytest.raises(StampError, match=words):
        read_stamp([KEY], raw)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal(b"short", payload())
