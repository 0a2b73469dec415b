"""Which stream of a camera a viewer may read: masked unless the owner sees it (R17).

A camera with privacy masks is shared only through a transcode profile that blanks them (`maskPrivacy: true`):
every viewer outside the owning department, whether a grant or an access tier let it in, reads
`namespace/camera/<masking profile>` and never the original `namespace/camera`, nor a profile that does not mask.
A grant's `transcodeProfile` narrows what its grantee reads, but cannot open an unmasked stream of a masked
camera: when it names a profile that does not mask, the grantee still gets only the masking ones. The owner
department reads every stream, the original included. A camera without masks: a grant's profile, when named,
is the only stream its grantee reads (as before); tiers read any.

Pure: the decision takes the camera's facts and the names of its masking profiles (from its recording policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from camfleet.access.decision_inputs import CameraFacts


class StreamVerdict(StrEnum):
    ALLOWED = "allowed"
    MASKED_ONLY = "masked_only"
    """The camera has privacy masks; the viewer asked for a stream that does not blank them."""
    WRONG_PROFILE = "wrong_profile"
    """The grant limits its grantee to another profile."""


@dataclass(frozen=True)
class StreamDecision:
    verdict: StreamVerdict
    reason: str

    @property
    def allowed(self) -> bool:
        return self.verdict == StreamVerdict.ALLOWED


def admitted_profiles(masking_profiles: frozenset[str], asked: str | None) -> frozenset[str]:
    """The masking profiles a non-owner may read of a masked camera (a grant's profile narrows them when it masks)."""
    if asked is not None and asked in masking_profiles:
        return frozenset({asked})
    return masking_profiles


def decide_stream(
    camera: CameraFacts,
    viewer: str,
    profile: str | None,
    masking_profiles: frozenset[str],
    asked: str | None = None,
) -> StreamDecision:
    """May department `viewer` read stream `profile` (None: the original) of `camera`, its access being granted
    otherwise? `asked`: the transcode profile of the grant it uses, if any."""
    stream = camera.ref if profile is None else f"{camera.ref}/{profile}"
    if viewer == camera.namespace:
        return StreamDecision(StreamVerdict.ALLOWED, f"{viewer} owns {camera.ref} and reads every stream")
    if camera.privacy_masked:
        admitted = admitted_profiles(masking_profiles, asked)
        if profile in admitted:
            return StreamDecision(StreamVerdict.ALLOWED, f"{stream} blanks the privacy masks of {camera.ref}")
        if not admitted:
            return StreamDecision(
                StreamVerdict.MASKED_ONLY,
                f"{camera.ref} has privacy masks and no masked stream: only {camera.namespace} may view it (R17)",
            )
        choices = ", ".join(f"{camera.ref}/{name}" for name in sorted(admitted))
        return StreamDecision(
            StreamVerdict.MASKED_ONLY,
            f"{camera.ref} has privacy masks: {viewer} may read only the masked stream ({choices}), not {stream} (R17)",
        )
    if asked is not None and profile != asked:
        return StreamDecision(StreamVerdict.WRONG_PROFILE, f"the grant gives only the stream {camera.ref}/{asked}")
    return StreamDecision(StreamVerdict.ALLOWED, f"{stream} may be shared")
