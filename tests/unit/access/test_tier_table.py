"""The whole R13 table, every answer written out by hand.

Columns: level held (None: none) x restricted zone x own camera x a normal grant (all four permissions,
Conditional, in force) -> permissions (V LiveView, P Playback, C PTZControl, E Export), PTZ priority, lock.
The camera is Conditional and, unless said otherwise, not in the tier's authorized subset.
Priorities: level 1 40, level 2 30, owner 25, level 3 20, borrowed through a grant at the grantee's level
(at least 10), emergency +1 (a tie-break within the level, never above the next one).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from camfleet.access import decide, tier_permissions
from camfleet.api.camera import ShareClass
from camfleet.api.sharing_grant import Permission
from tests.unit.access.builders import ME, NOW, OWNER, camera, grant, tier

LETTERS = {"V": Permission.LIVE_VIEW, "P": Permission.PLAYBACK, "C": Permission.PTZ_CONTROL, "E": Permission.EXPORT}


def perms(letters: str) -> frozenset[Permission]:
    return frozenset(LETTERS[letter] for letter in letters)


# level, restricted, own, grant -> permissions, priority, lock
TABLE = [
    # level 1: every shared camera, restricted zones included; pre-empt and lock
    (1, False, False, False, "VPCE", 40, True),
    (1, False, False, True, "VPCE", 40, True),
    (1, False, True, False, "VPCE", 40, True),
    (1, False, True, True, "VPCE", 40, True),
    (1, True, False, False, "VPCE", 40, True),
    (1, True, False, True, "VPCE", 40, True),
    (1, True, True, False, "VPCE", 40, True),
    (1, True, True, True, "VPCE", 40, True),
    # level 2: view, control, extract all but restricted zones; an owner ranks at its level or as owner (25)
    (2, False, False, False, "VPCE", 30, False),
    (2, False, False, True, "VPCE", 30, False),
    (2, False, True, False, "VPCE", 30, False),
    (2, False, True, True, "VPCE", 30, False),
    (2, True, False, False, "", None, False),
    (2, True, False, True, "", None, False),
    (2, True, True, False, "VPCE", 25, False),
    (2, True, True, True, "VPCE", 25, False),
    # level 3: view all but restricted zones; control only through its subset or a grant
    (3, False, False, False, "VP", None, False),
    (3, False, False, True, "VPCE", 20, False),
    (3, False, True, False, "VPCE", 25, False),
    (3, False, True, True, "VPCE", 25, False),
    (3, True, False, False, "", None, False),
    (3, True, False, True, "", None, False),
    (3, True, True, False, "VPCE", 25, False),
    (3, True, True, True, "VPCE", 25, False),
    # level 4: only its authorized subset (not this camera); a grant gives more
    (4, False, False, False, "", None, False),
    (4, False, False, True, "VPCE", 10, False),
    (4, False, True, False, "VPCE", 25, False),
    (4, False, True, True, "VPCE", 25, False),
    (4, True, False, False, "", None, False),
    (4, True, False, True, "", None, False),
    (4, True, True, False, "VPCE", 25, False),
    (4, True, True, True, "VPCE", 25, False),
    # no level at all
    (None, False, False, False, "", None, False),
    (None, False, False, True, "VPCE", 10, False),
    (None, False, True, False, "VPCE", 25, False),
    (None, False, True, True, "VPCE", 25, False),
    (None, True, False, False, "", None, False),
    (None, True, False, True, "", None, False),
    (None, True, True, False, "VPCE", 25, False),
    (None, True, True, True, "VPCE", 25, False),
]


def row_id(row: tuple[object, ...]) -> str:
    level, restricted, own, with_grant = row[:4]
    return (
        f"L{level or '-'}-{'restricted' if restricted else 'standard'}-"
        f"{'own' if own else 'other'}-{'grant' if with_grant else 'nogrant'}"
    )


@pytest.mark.parametrize(
    ("level", "restricted", "own", "with_grant", "expected", "priority", "lock"),
    TABLE,
    ids=[row_id(row) for row in TABLE],
)
def test_decide_follows_the_tier_table(
    level: int | None, restricted: bool, own: bool, with_grant: bool, expected: str, priority: int | None, lock: bool
) -> None:
    cam = camera(namespace=ME if own else OWNER, restricted=restricted)
    tiers = [tier(level, ME)] if level else []
    grants = [grant(cameras={"namespace": cam.namespace, "names": [cam.name]})] if with_grant else []

    decision = decide(ME, cam, NOW, tiers, grants)

    assert (decision.permissions, decision.ptz_priority, decision.can_lock) == (perms(expected), priority, lock)


@pytest.mark.parametrize(
    ("level", "restricted", "own", "with_grant", "expected", "priority", "lock"),
    [row for row in TABLE if not row[3]],
    ids=[row_id(row) for row in TABLE if not row[3]],
)
def test_tier_permissions_is_the_same_table(
    level: int | None, restricted: bool, own: bool, with_grant: bool, expected: str, priority: int | None, lock: bool
) -> None:
    rights = tier_permissions(level, camera(restricted=restricted), own)
    assert (rights.permissions, rights.ptz_priority, rights.can_lock) == (perms(expected), priority, lock)


# The authorized subset (the tier's authorizedCameras), standard and restricted camera, not owned.
AUTHORIZED = [
    (1, False, "VPCE", 40, True),
    (1, True, "VPCE", 40, True),
    (2, False, "VPCE", 30, False),
    (2, True, "", None, False),
    (3, False, "VPC", 20, False),
    (3, True, "", None, False),
    (4, False, "VP", None, False),
    (4, True, "", None, False),
]


@pytest.mark.parametrize(("level", "restricted", "expected", "priority", "lock"), AUTHORIZED)
def test_the_authorized_subset(level: int, restricted: bool, expected: str, priority: int | None, lock: bool) -> None:
    cam = camera(restricted=restricted)
    subset = [{"namespace": OWNER, "names": [cam.name]}]

    decision = decide(ME, cam, NOW, [tier(level, ME, authorized=subset)], [])

    assert (decision.permissions, decision.ptz_priority, decision.can_lock) == (perms(expected), priority, lock)
    rights = tier_permissions(level, cam, False, authorized=True)
    assert (rights.permissions, rights.ptz_priority, rights.can_lock) == (perms(expected), priority, lock)


# NotShared cameras (R10): no level opens them, level 1 included; only ownership or an emergency grant does.
# level, own, grant (None, "normal" or "emergency" with LiveView and PTZControl) -> permissions, priority, lock
NOT_SHARED = [
    (1, False, None, "", None, False),
    (1, False, "normal", "", None, False),
    (1, False, "emergency", "VC", 41, False),
    (1, True, None, "VPCE", 25, False),
    (2, False, None, "", None, False),
    (2, False, "normal", "", None, False),
    (2, False, "emergency", "VC", 31, False),
    (2, True, None, "VPCE", 25, False),
    (3, False, None, "", None, False),
    (3, False, "normal", "", None, False),
    (3, False, "emergency", "VC", 21, False),
    (3, True, None, "VPCE", 25, False),
    (4, False, None, "", None, False),
    (4, False, "normal", "", None, False),
    (4, False, "emergency", "VC", 11, False),
    (4, True, None, "VPCE", 25, False),
    (None, False, None, "", None, False),
    (None, False, "normal", "", None, False),
    (None, False, "emergency", "VC", 11, False),
    (None, True, None, "VPCE", 25, False),
]


@pytest.mark.parametrize("restricted", [False, True])
@pytest.mark.parametrize(("level", "own", "kind", "expected", "priority", "lock"), NOT_SHARED)
def test_not_shared_cameras(
    level: int | None, own: bool, kind: str | None, expected: str, priority: int | None, lock: bool, restricted: bool
) -> None:
    cam = camera(namespace=ME if own else OWNER, restricted=restricted, share_class=ShareClass.NOT_SHARED)
    selection = {"namespace": cam.namespace, "names": [cam.name]}
    grants = {
        None: [],
        "normal": [grant(cameras=selection)],
        "emergency": [
            grant(
                cameras=selection,
                share_class="NotShared",
                permissions=("LiveView", "PTZControl"),
                emergency=True,
                end=NOW + timedelta(hours=12),
            )
        ],
    }[kind]

    decision = decide(ME, cam, NOW, [tier(level, ME)] if level else [], grants)

    assert (decision.permissions, decision.ptz_priority, decision.can_lock) == (perms(expected), priority, lock)


# Share class of the grant against share class of the camera (R10), standard camera, no level.
# grant class, camera class -> what a normal grant with all four permissions gives
SHARE_CLASSES = [
    ("Unconditional", ShareClass.UNCONDITIONAL, "VPCE"),
    ("Unconditional", ShareClass.CONDITIONAL, ""),
    ("Unconditional", ShareClass.NOT_SHARED, ""),
    ("Conditional", ShareClass.UNCONDITIONAL, "VPCE"),
    ("Conditional", ShareClass.CONDITIONAL, "VPCE"),
    ("Conditional", ShareClass.NOT_SHARED, ""),
]


@pytest.mark.parametrize(("grant_class", "camera_class", "expected"), SHARE_CLASSES)
def test_a_grant_reaches_cameras_up_to_its_share_class(
    grant_class: str, camera_class: ShareClass, expected: str
) -> None:
    cam = camera(share_class=camera_class)
    decision = decide(ME, cam, NOW, [], [grant(share_class=grant_class)])
    assert decision.permissions == perms(expected)
