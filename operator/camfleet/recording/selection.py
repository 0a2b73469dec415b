"""Which RecordingPolicy records a camera, decided the same way every time (no flapping)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from camfleet.api.recording_policy import RecordingPolicy
from camfleet.label_selectors import selector_matches


@dataclass(frozen=True)
class Selection:
    """The winning policy (None: the camera is not recorded) and every other policy that wanted the camera."""

    winner: RecordingPolicy | None
    contenders: tuple[RecordingPolicy, ...] = ()
    pinned_missing: str | None = None

    @property
    def contested(self) -> bool:
        return bool(self.contenders)


def selected_by(body: Mapping[str, Any]) -> tuple[dict[str, str], str | None]:
    """What of a Camera body `select_policy` judges: its labels and the policy it pins (`spec.recordingPolicyRef`)."""
    pinned = ((body.get("spec") or {}).get("recordingPolicyRef") or {}).get("name")
    return dict(body["metadata"].get("labels") or {}), pinned


def _name(policy: RecordingPolicy) -> str:
    return str(policy.metadata.name)


def select_policy(
    camera_labels: Mapping[str, str] | None, pinned: str | None, policies: Iterable[RecordingPolicy]
) -> Selection:
    """A camera naming a policy (`recordingPolicyRef`) is recorded by that one only; otherwise the selecting
    policy with the highest priority wins, ties going to the name first in alphabetical order."""
    policies = list(policies)
    if pinned is not None:
        chosen = next((p for p in policies if _name(p) == pinned), None)
        return Selection(winner=chosen, pinned_missing=None if chosen else pinned)
    candidates = sorted(
        (p for p in policies if selector_matches(p.spec.camera_selector, camera_labels)),
        key=lambda p: (-p.spec.priority, _name(p)),
    )
    if not candidates:
        return Selection(winner=None)
    return Selection(winner=candidates[0], contenders=tuple(candidates[1:]))
