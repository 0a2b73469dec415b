"""Which cameras a CameraSelection covers (by name, or by label selector with Kubernetes semantics)."""

from __future__ import annotations

from camfleet.access.decision_inputs import CameraFacts
from camfleet.api.common import CameraSelection
from camfleet.label_selectors import selector_matches


def selection_covers(selection: CameraSelection, camera: CameraFacts) -> bool:
    if selection.namespace != camera.namespace:
        return False
    if selection.names is not None:
        return camera.name in selection.names
    # The API makes `names` and `selector` exclusive, so a selection without names has a selector.
    return selection.selector is not None and selector_matches(selection.selector, camera.labels)
