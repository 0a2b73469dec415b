"""lightkube resource classes for every camfleet kind, derived from the API registry."""

from __future__ import annotations

from typing import Any

from lightkube.generic_resource import create_global_resource, create_namespaced_resource

from camfleet.api import GROUP, KINDS, VERSION


def _resource(info: Any) -> Any:
    factory = create_namespaced_resource if info.namespaced else create_global_resource
    return factory(GROUP, VERSION, info.kind, info.plural)


RESOURCES: dict[str, Any] = {info.kind: _resource(info) for info in KINDS}
CameraResource = RESOURCES["Camera"]
