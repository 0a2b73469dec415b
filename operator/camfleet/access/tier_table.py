"""R13 (QD-TIERS art. 16): what each permission level, and ownership, allows on a camera.

Readings of R13's words, kept here so the table and its reasons use them consistently:
- "view" is live view and playback: the rule does not split live from recorded images;
- "control" is PTZ control; "extract and store" is export;
- "every shared camera": a NotShared camera is not shared (R10), so no level reaches it, level 1
  included; only the owner and an emergency grant (R12) do;
- restricted zones are the cameras of security level Restricted; levels 2-4 never reach them, not even
  through the tier's authorized subset (level 3 cannot control what it may not view);
- "authorized subset" is the tier's `authorizedCameras`; grants add to it on their own (see `grants`);
- "own cameras when no higher level holds them": the owner has full rights on its cameras, and its PTZ
  priority sits between levels 2 and 3: levels 1 and 2 pre-empt the owner, and the owner takes its camera back
  once they release it (or fall silent); an owner that also holds a level ranks at the better of the two.
- "emergency need decides" between two of the same level only: an emergency grant adds less than the gap
  between two levels, so it breaks a tie within a level and never lifts anyone above the next level.
"""

from __future__ import annotations

from dataclasses import dataclass

from camfleet.access.decision_inputs import CameraFacts
from camfleet.api.camera import ShareClass
from camfleet.api.sharing_grant import Permission

Permissions = frozenset[Permission]

NOTHING: Permissions = frozenset()
VIEW: Permissions = frozenset({Permission.LIVE_VIEW, Permission.PLAYBACK})
CONTROL: Permissions = frozenset({Permission.PTZ_CONTROL})
EXTRACT: Permissions = frozenset({Permission.EXPORT})
EVERYTHING: Permissions = VIEW | CONTROL | EXTRACT

# PTZ priorities: the higher number takes control. Spaced out so that ownership fits between levels 2 and 3,
# and an emergency (R12) breaks ties within one level only (its bonus is smaller than any gap between ranks).
LEVEL_PRIORITY: dict[int, int] = {1: 40, 2: 30, 3: 20, 4: 10}
OWNER_PRIORITY = 25
GRANT_PRIORITY_FLOOR = LEVEL_PRIORITY[4]
"""PTZ control borrowed through a grant ranks at the grantee's level, and at least as level 4."""
EMERGENCY_PRIORITY_BONUS = 1


@dataclass(frozen=True)
class LevelRow:
    """One level of R13: its permissions on standard cameras, on its authorized subset, and in restricted zones."""

    level: int
    standard: Permissions
    authorized_standard: Permissions
    """On standard cameras in the tier's authorized subset (what `standard` gives plus what the subset adds)."""
    restricted: Permissions
    can_lock: bool
    standard_words: str
    authorized_words: str
    restricted_words: str


_LEVEL_1_WORDS = "level 1 views, controls and extracts every shared camera, pre-empts control and may lock it"

R13_TABLE: dict[int, LevelRow] = {
    row.level: row
    for row in (
        LevelRow(
            level=1,
            standard=EVERYTHING,
            authorized_standard=EVERYTHING,
            restricted=EVERYTHING,
            can_lock=True,
            standard_words=_LEVEL_1_WORDS,
            authorized_words=_LEVEL_1_WORDS,
            restricted_words="level 1 reaches restricted zones: it views, controls and extracts every shared camera",
        ),
        LevelRow(
            level=2,
            standard=EVERYTHING,
            authorized_standard=EVERYTHING,
            restricted=NOTHING,
            can_lock=False,
            standard_words="level 2 views, controls and extracts all but restricted zones",
            authorized_words="level 2 views, controls and extracts all but restricted zones",
            restricted_words="restricted zone: level 2 views, controls and extracts all but restricted zones",
        ),
        LevelRow(
            level=3,
            standard=VIEW,
            authorized_standard=VIEW | CONTROL,
            restricted=NOTHING,
            can_lock=False,
            standard_words="level 3 views all but restricted zones and controls only its authorized cameras,"
            " which do not include this one",
            authorized_words="level 3 views all but restricted zones and controls its authorized cameras,"
            " this one included",
            restricted_words="restricted zone: level 3 views all but restricted zones",
        ),
        LevelRow(
            level=4,
            standard=NOTHING,
            authorized_standard=VIEW,
            restricted=NOTHING,
            can_lock=False,
            standard_words="level 4 views only its authorized cameras, which do not include this one;"
            " apply for more with a SharingGrant",
            authorized_words="level 4 views its authorized cameras, this one included, with no control",
            restricted_words="restricted zone: level 4 views only its authorized cameras, never restricted zones",
        ),
    )
}

NOT_SHARED_WORDS = (
    "camera is NotShared: levels reach shared cameras only; it opens only through an emergency grant (R10)"
)
OWNER_WORDS = (
    "the department owns the camera: full rights; it controls PTZ when no higher level (1 or 2) holds it (R13)"
)


@dataclass(frozen=True)
class Rights:
    """What one source (a level, or ownership) allows on one camera, and why."""

    permissions: Permissions
    ptz_priority: int | None
    can_lock: bool
    because: str


def level_rights(level: int, camera: CameraFacts, *, authorized: bool = False) -> Rights:
    """R13 for one level on one camera; `authorized`: the camera is in the tier's authorized subset."""
    row = R13_TABLE[level]
    if camera.share_class == ShareClass.NOT_SHARED:
        return Rights(NOTHING, None, False, NOT_SHARED_WORDS)
    if camera.restricted:
        permissions, words = row.restricted, row.restricted_words
    elif authorized:
        permissions, words = row.authorized_standard, row.authorized_words
    else:
        permissions, words = row.standard, row.standard_words
    priority = LEVEL_PRIORITY[level] if Permission.PTZ_CONTROL in permissions else None
    return Rights(permissions, priority, row.can_lock and bool(permissions), f"{words} (R13)")


def owner_rights() -> Rights:
    return Rights(EVERYTHING, OWNER_PRIORITY, False, OWNER_WORDS)


def tier_permissions(level: int | None, camera: CameraFacts, is_owner: bool, *, authorized: bool = False) -> Rights:
    """The whole R13 table in one function: a department holding `level` (None: no level), owning the camera or
    not. Grants, share-class limits on grants and time windows are applied by `decide`."""
    sources = []
    if is_owner:
        sources.append(owner_rights())
    if level is not None:
        sources.append(level_rights(level, camera, authorized=authorized))
    if not sources:
        return Rights(NOTHING, None, False, "no level and not the owner")
    priorities = [source.ptz_priority for source in sources if source.ptz_priority is not None]
    return Rights(
        permissions=frozenset().union(*(source.permissions for source in sources)),
        ptz_priority=max(priorities, default=None),
        can_lock=any(source.can_lock for source in sources),
        because="; ".join(source.because for source in sources),
    )


def grant_priority(standing_level: int | None, emergency: bool) -> int:
    """PTZ priority of control held through a grant by a department whose best active level is `standing_level`."""
    rank = max(LEVEL_PRIORITY[standing_level] if standing_level is not None else 0, GRANT_PRIORITY_FLOOR)
    return rank + (EMERGENCY_PRIORITY_BONUS if emergency else 0)


# -- what a level lets a department receive through a grant (R13 binds grants too) ----------------------------

NO_LEVEL_TREATED_AS = 4
"""A department holding no level at all is treated as level 4, the lowest: R13 gives every department some
level, and one nobody has classified must not receive more than the least trusted one does."""

GRANT_CAP: dict[int, Permissions] = {
    1: EVERYTHING,
    2: EVERYTHING,
    3: VIEW | CONTROL,
    4: VIEW,
}
"""What a grant can give a department of each level, on the cameras the grant names (which the two owner approvals
make its authorized subset): level 3 controls only that authorized subset, level 4 views it and controls nothing,
and extraction (Export) is for levels 1 and 2 only; the others extract through a FootageExport and its two
approvals (R15)."""

_CAP_WORDS: dict[int, str] = {
    1: "level 1 views, controls and extracts",
    2: "level 2 views, controls and extracts",
    3: "level 3 views and controls only its authorized cameras and does not extract (use a FootageExport)",
    4: "level 4 views only its authorized cameras, controls nothing and does not extract (use a FootageExport)",
}


@dataclass(frozen=True)
class Narrowing:
    """A grant's permissions once the grantee's level is applied."""

    level: int
    """The level applied (NO_LEVEL_TREATED_AS when the department holds none)."""
    kept: Permissions
    dropped: Permissions
    because: str
    """In words, with the rule; empty when nothing was dropped."""


def narrow_to_level(asked: Permissions, level: int | None) -> Narrowing:
    """The permissions of a grant that the grantee's best active level (None: it holds none) lets it receive."""
    applied = level if level is not None else NO_LEVEL_TREATED_AS
    cap = GRANT_CAP[applied]
    kept, dropped = asked & cap, asked - cap
    if not dropped:
        return Narrowing(applied, kept, NOTHING, "")
    held = f"holds level {level}" if level is not None else f"holds no level and is treated as level {applied}"
    names = ", ".join(p.value for p in (Permission.PTZ_CONTROL, Permission.EXPORT) if p in dropped)
    because = f"{names} dropped: the grantee department {held}; {_CAP_WORDS[applied]} (R13)"
    return Narrowing(applied, kept, dropped, because)
