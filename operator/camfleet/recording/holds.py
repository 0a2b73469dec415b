"""Retention hold (R3): a volume outlives its camera or policy until its newest recording's retention passed.

The retention state of a volume lives in annotations, so it must not be anybody's to move. Three kinds of
protection, all decided here as pure functions:

- when camfleet releases a volume it records *when* (`released-at`: the recorder stopped then, so no segment
  is newer) and keeps the retention the recordings were made under (`retention-days`); the janitor derives
  the destruction time from those two, taking the latest of that and `retain-until`, so lowering the
  readable `retain-until` alone moves nothing;
- the admission guard (handlers/retention_guard.py) refuses whatever would shorten the retention or move
  a legal hold without authority (`judge_update`, `judge_delete`);
- only the legal-hold authority sets or lifts `legal-hold` by hand; camfleet itself sets what the policy
  says, and lifts only what the same policy no longer says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

RETAIN_UNTIL = "camfleet.io/retain-until"
LEGAL_HOLD = "camfleet.io/legal-hold"
RELEASED_AT = "camfleet.io/released-at"
RETENTION_DAYS = "camfleet.io/retention-days"
PROTECTED_ANNOTATIONS = (
    "camfleet.io/retain-until",
    "camfleet.io/legal-hold",
    "camfleet.io/released-at",
    RETENTION_DAYS,
)
# Until the cluster-wide authorities configuration (issue 14) lands: members of this group (or of the groups
# given with --legal-hold-group) are the legal-hold authority.
LEGAL_HOLD_AUTHORITY_GROUP = "camfleet.io/legal-hold-authority"
# Labels that put a volume under the guard (its objectSelector): nobody may take them away.
GUARDED_LABELS = ("camfleet.io/retention-volume", "app.kubernetes.io/managed-by")
RULE = "rule R3: nobody deletes, alters or hides recordings inside their retention period"


def retain_until(released_at: datetime, retention_days: int) -> datetime:
    """The newest segment on a released volume is at most as old as the release, so this is never early."""
    return released_at + timedelta(days=retention_days)


def timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> datetime | None:
    """An annotation's time; None when absent or unreadable (the callers treat unreadable as absent or refuse)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def released_until(annotations: Mapping[str, str]) -> datetime | None:
    """The retain-until time of a released volume as annotated (None: not released)."""
    return parse_time(annotations.get(RETAIN_UNTIL))


def release_annotations(released_at: datetime, retention_days: int) -> dict[str, str | None]:
    """What releasing a volume writes: when, under which retention, and the resulting time."""
    return {
        RELEASED_AT: timestamp(released_at),
        RETENTION_DAYS: str(retention_days),
        RETAIN_UNTIL: timestamp(retain_until(released_at, retention_days)),
    }


def _retention_days(annotations: Mapping[str, str], floor_days: int) -> int:
    try:
        return max(int(annotations.get(RETENTION_DAYS, floor_days)), floor_days)
    except ValueError:
        return floor_days


def destruction_due(
    annotations: Mapping[str, str], floor_days: int = 30, newest_segment: datetime | None = None
) -> datetime | None:
    """When a released volume's recordings may be destroyed, re-derived from the release itself: the latest of
    its retain-until, its release time plus the retention it was recorded under (never below the floor), and,
    when the recorder reported one, its newest segment plus that retention. None: not released.

    A volume released before `released-at` existed has only its retain-until, which the guard protects."""
    until = released_until(annotations)
    if until is None:
        return None
    days = timedelta(days=_retention_days(annotations, floor_days))
    candidates = [until]
    released_at = parse_time(annotations.get(RELEASED_AT))
    if released_at is not None:
        candidates.append(released_at + days)
    if newest_segment is not None:
        candidates.append(newest_segment + days)
    return max(candidates)


def may_delete(annotations: Mapping[str, str], now: datetime, floor_days: int = 30) -> bool:
    """Only a released volume, past its destruction time, with no legal hold, may be deleted."""
    if annotations.get(LEGAL_HOLD):
        return False
    due = destruction_due(annotations, floor_days)
    return due is not None and now >= due


# -- admission -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requester:
    username: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class GuardSettings:
    operator_usernames: frozenset[str]
    legal_hold_groups: frozenset[str] = frozenset({LEGAL_HOLD_AUTHORITY_GROUP})
    floor_days: int = 30
    legal_hold_users: frozenset[str] = frozenset()
    """Users of the legal-hold authority named in CamfleetAuthorities (its groups join `legal_hold_groups`)."""

    def is_operator(self, who: Requester) -> bool:
        return who.username in self.operator_usernames

    def is_legal_hold_authority(self, who: Requester) -> bool:
        return who.username in self.legal_hold_users or bool(self.legal_hold_groups.intersection(who.groups))


@dataclass(frozen=True)
class PolicyHold:
    """What the volume's recording policy says about a legal hold (read by the guard for camfleet's own writes)."""

    same_policy: bool
    """The update keeps the volume's policy (a lift by camfleet is the policy lifting it)."""
    value: str | None
    """The hold annotation the policy asks for (None: no hold); unknown policy: None too."""


def hold_change(old: Mapping[str, str], new: Mapping[str, str]) -> str | None:
    """`LegalHoldSet`, `LegalHoldLifted`, `LegalHoldChanged` or None."""
    before, after = old.get(LEGAL_HOLD), new.get(LEGAL_HOLD)
    if before == after:
        return None
    if not before:
        return "LegalHoldSet"
    return "LegalHoldLifted" if not after else "LegalHoldChanged"


def _refusal(volume: str, what: str) -> str:
    return f"{what} on retention volume {volume} is refused ({RULE})"


def _labels_refusal(volume: str, old_labels: Mapping[str, str], new_labels: Mapping[str, str]) -> str | None:
    for label in GUARDED_LABELS:
        if label in old_labels and new_labels.get(label) != old_labels[label]:
            return _refusal(volume, f"changing or removing the label {label}")
    return None


def _retain_until_refusal(volume: str, old: Mapping[str, str], new: Mapping[str, str], operator: bool) -> str | None:
    before, after = old.get(RETAIN_UNTIL), new.get(RETAIN_UNTIL)
    if before == after:
        return None
    if after is not None and parse_time(after) is None:
        return _refusal(volume, f"{RETAIN_UNTIL}={after!r} (not an RFC 3339 time)")
    if before is None:
        # Releasing is camfleet's: a retain-until on a volume still recorded would destroy recordings in use.
        return None if operator else _refusal(volume, f"setting {RETAIN_UNTIL} (only camfleet releases a volume)")
    if after is None:
        # camfleet records on a released volume again (it is in use: no expiry until the next release).
        return None if operator else _refusal(volume, f"removing {RETAIN_UNTIL} from a released volume")
    earlier, later = parse_time(before), parse_time(after)
    if earlier is not None and later is not None and later < earlier:
        return _refusal(volume, f"moving {RETAIN_UNTIL} earlier, from {before} to {after}")
    return None


def _release_record_refusal(volume: str, old: Mapping[str, str], new: Mapping[str, str], operator: bool) -> str | None:
    """`released-at` and `retention-days` are what the janitor derives the destruction time from."""
    for key in (RELEASED_AT, RETENTION_DAYS):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if not operator:
            return _refusal(volume, f"changing {key} (camfleet's record of the retention)")
        if RETAIN_UNTIL in old and RETAIN_UNTIL in new and not _not_shorter(key, before, after):
            return _refusal(volume, f"shortening {key} of a released volume, from {before} to {after}")
    return None


def _not_shorter(key: str, before: str | None, after: str | None) -> bool:
    if before is None:
        return True
    if after is None:
        return False
    if key == RETENTION_DAYS:
        return after.isdigit() and before.isdigit() and int(after) >= int(before)
    earlier, later = parse_time(before), parse_time(after)
    return earlier is not None and later is not None and later >= earlier


def _authority_words(settings: GuardSettings) -> str:
    return ", ".join(sorted(settings.legal_hold_groups | {f"user {user}" for user in settings.legal_hold_users}))


def policy_hold(legal_hold: Mapping[str, object] | None) -> str | None:
    """The hold a RecordingPolicy's `spec.legalHold` puts on its volumes, as their annotation says it (None: none)."""
    hold = legal_hold or {}
    return str(hold.get("reference") or "enabled") if hold.get("enabled") else None


def policy_hold_change(old: str | None, new: str | None) -> str | None:
    """`hold_change` of a policy's hold (values from `policy_hold`): as its volumes' annotation would change."""
    return hold_change({LEGAL_HOLD: old} if old else {}, {LEGAL_HOLD: new} if new else {})


def policy_hold_refusal(
    policy: str, old: str | None, new: str | None, who: Requester, settings: GuardSettings, deleting: bool = False
) -> str | None:
    """Why a change of a RecordingPolicy's legal hold is refused (None: admitted); `old`/`new` from `policy_hold`,
    `new` None when the policy is deleted.

    Anyone who may edit the policy may set a hold: it only keeps recordings. Lifting or changing a hold in force is
    the legal-hold authority's alone, as on the volume itself: camfleet lifts its volumes' holds when their policy
    lifts its own, so an edit of the policy is a door to destroying held recordings once their retention passed.
    So is deleting a held policy: one re-created under the same name without the hold is the same policy to the
    volumes it records."""
    change = policy_hold_change(old, new)
    if change in (None, "LegalHoldSet") or settings.is_legal_hold_authority(who):
        return None
    if deleting:
        what = f"deleting RecordingPolicy {policy}, whose legal hold ({old}) is in force,"
    else:
        verb = "lifting" if change == "LegalHoldLifted" else "changing"
        what = f"{verb} the legal hold ({old}) of RecordingPolicy {policy}"
    return (
        f"{what} by {who.username} is refused: only the legal-hold authority "
        f"(group {_authority_words(settings)}) lifts or changes a hold in force ({RULE})"
    )


def _hold_refusal(
    volume: str, old: Mapping[str, str], new: Mapping[str, str], who: Requester, settings: GuardSettings,
    policy: PolicyHold | None,
) -> str | None:  # fmt: skip
    change = hold_change(old, new)
    if change is None or settings.is_legal_hold_authority(who):
        return None
    as_policy_says = settings.is_operator(who) and policy is not None and new.get(LEGAL_HOLD) == policy.value
    if as_policy_says and (change != "LegalHoldLifted" or (policy is not None and policy.same_policy)):
        return None  # camfleet sets what the policy says; it lifts only what the same policy lifted
    verb = {"LegalHoldSet": "setting", "LegalHoldLifted": "lifting", "LegalHoldChanged": "changing"}[change]
    return _refusal(
        volume,
        f"{verb} {LEGAL_HOLD} by {who.username} (only the legal-hold authority, group {_authority_words(settings)})",
    )


def judge_update(
    volume: str,
    old: Mapping[str, str],
    new: Mapping[str, str],
    labels: tuple[Mapping[str, str], Mapping[str, str]],
    who: Requester,
    settings: GuardSettings,
    policy: PolicyHold | None = None,
) -> str | None:
    """Why an update of a retention volume's metadata is refused (None: admitted). `old`/`new`: annotations."""
    operator = settings.is_operator(who)
    return (
        _labels_refusal(volume, *labels)
        or _retain_until_refusal(volume, old, new, operator)
        or _release_record_refusal(volume, old, new, operator)
        or _hold_refusal(volume, old, new, who, settings, policy)
    )


def judge_delete(volume: str, annotations: Mapping[str, str], now: datetime, floor_days: int = 30) -> str | None:
    """Why deleting a retention volume is refused (None: its retention has passed and no hold keeps it)."""
    if annotations.get(LEGAL_HOLD):
        return _refusal(volume, f"deleting a volume under legal hold ({annotations[LEGAL_HOLD]})")
    due = destruction_due(annotations, floor_days)
    if due is None:
        return _refusal(volume, "deleting a volume camfleet has not released (its recordings are in use)")
    if now < due:
        return _refusal(volume, f"deleting a volume inside its retention (kept until {timestamp(due)})")
    return None


def groups_of(groups: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(str(g) for g in groups or ())


CONTROL_PLANE_REMOVERS = frozenset(
    {
        "system:serviceaccount:kube-system:generic-garbage-collector",
        "system:serviceaccount:kube-system:namespace-controller",
        "system:kube-controller-manager",
    }
)
"""Who deletes a chain checkpoint besides camfleet: garbage collection, once its retention volume (the owner) is
gone, and the namespace controller, once the namespace is going (its retention volumes hold it until their
retention has passed). Neither acts at a user's word alone."""


def checkpoint_refusal(checkpoint: str, operation: str, who: Requester, settings: GuardSettings) -> str | None:
    """Why a change or deletion of a camera's chain checkpoint ConfigMap is refused (None: admitted). It holds the
    operator-signed heads of the camera's hash chain: deleting it, or rewriting it, would hide a cut-off tail of
    recordings from `camfleet verify`. Only camfleet writes it; it goes with its retention volume."""
    if settings.is_operator(who) or (operation == "DELETE" and who.username in CONTROL_PLANE_REMOVERS):
        return None
    verb = "deleting" if operation == "DELETE" else "changing"
    return (
        f"{verb} the chain checkpoint ConfigMap {checkpoint} by {who.username} is refused: it holds the signed heads"
        f" of the camera's recordings and goes with its retention volume ({RULE})"
    )
