"""Kubernetes Events that camfleet posts itself, only on transitions.

kopf's own posting is limited to warnings (see kopf_settings), so the Events a
user sees in `kubectl describe` are the ones that mean something happened.
"""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime
from typing import Any, Literal

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event

COMPONENT = "camfleet-operator"
EventType = Literal["Normal", "Warning"]
log = logging.getLogger(__name__)


def reference_to(body: dict[str, Any]) -> ObjectReference:
    meta = body["metadata"]
    return ObjectReference(
        apiVersion=body["apiVersion"],
        kind=body["kind"],
        name=meta["name"],
        namespace=meta.get("namespace"),
        uid=meta.get("uid"),
        resourceVersion=meta.get("resourceVersion"),
    )


class EventRecorder:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._instance = socket.gethostname()

    async def record(self, body: dict[str, Any], type_: EventType, reason: str, message: str) -> None:
        """Post one Event; a failure to post is logged, never raised, so it cannot break a reconcile."""
        now = datetime.now(UTC)
        involved = reference_to(body)
        namespace = involved.namespace or "default"
        event = Event(
            metadata=ObjectMeta(generateName=f"{involved.name}.", namespace=namespace),
            involvedObject=involved,
            type=type_,
            reason=reason,
            message=message[:1024],
            source=EventSource(component=COMPONENT),
            reportingComponent=f"camfleet.io/{COMPONENT}",
            reportingInstance=self._instance,
            firstTimestamp=now,
            lastTimestamp=now,
            count=1,
        )
        try:
            await self._client.create(event)
        except ApiError as error:
            log.warning("could not post Event %s on %s/%s: %s", reason, namespace, involved.name, error.status.reason)
