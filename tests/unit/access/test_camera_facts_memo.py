"""What access decisions know of a camera follows every change of its spec, labels or identity, and is not parsed
again for a status write (most camera events)."""

from __future__ import annotations

import copy
from typing import Any

from camfleet.access.decision_inputs import CameraFactsMemo
from camfleet.api.camera import SecurityLevel, ShareClass
from tests.unit.recording_logic.test_workloads import CAMERA

KEY = ("police", "gate")


def body(generation: int | None = 1, uid: str = "uid-1", **spec: Any) -> dict[str, Any]:
    camera = copy.deepcopy(CAMERA)
    camera["metadata"] = {"namespace": "police", "name": "gate", "uid": uid, "labels": {"zone": "north"}}
    if generation is not None:
        camera["metadata"]["generation"] = generation
    camera["spec"].update(spec)
    return camera


def test_a_status_write_reuses_the_facts_and_a_spec_label_or_identity_change_is_seen() -> None:
    memo = CameraFactsMemo()
    first = memo.of(KEY, body())
    assert first is not None
    assert first.share_class == ShareClass.CONDITIONAL
    with_status = {**body(), "status": {"observedGeneration": 1}}
    assert memo.of(KEY, with_status) is first

    changed = memo.of(KEY, body(generation=2, shareClass="NotShared"))
    assert changed is not None
    assert changed.share_class == ShareClass.NOT_SHARED

    relabelled = copy.deepcopy(body(generation=2, shareClass="NotShared"))
    relabelled["metadata"]["labels"] = {"zone": "south"}
    facts = memo.of(KEY, relabelled)
    assert facts is not None
    assert facts.labels == {"zone": "south"}

    # Deleted and made again under the same name (generation 2 again): a new camera, judged anew.
    remade = memo.of(KEY, body(generation=2, uid="uid-2", securityLevel="Restricted"))
    assert remade is not None
    assert remade.security_level == SecurityLevel.RESTRICTED
    assert memo.of(KEY, None) is None


def test_without_a_generation_every_body_is_parsed() -> None:
    memo = CameraFactsMemo()
    memo.of(KEY, body(generation=None))
    facts = memo.of(KEY, body(generation=None, shareClass="NotShared"))
    assert facts is not None
    assert facts.share_class == ShareClass.NOT_SHARED
