"""The replica's peering role as a label on its own pod, as CloudNativePG labels its primary.

Only the working replica has access state (kopf gives a paused replica no events), so only it may answer
access decisions. The chart's decision Service selects `camfleet.io/role: active`; a standby, and a pod
whose process died, are not behind it. A replica labels itself standby first, so a restarted pod never
keeps the label its previous process left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from camfleet.active_gate import ActiveGate

log = logging.getLogger(__name__)
ROLE_LABEL = "camfleet.io/role"
ACTIVE = "active"
STANDBY = "standby"
SETTLE_SECONDS = 5.0


def role_patch(active: bool) -> dict[str, object]:
    return {"metadata": {"labels": {ROLE_LABEL: ACTIVE if active else STANDBY}}}


async def label_own_pod(client: AsyncClient, name: str, namespace: str, active: bool) -> None:
    try:
        await client.patch(Pod, name, role_patch(active), namespace=namespace, patch_type=PatchType.MERGE)
    except ApiError as error:  # the decision Service then keeps its previous members; say why, keep working
        log.warning("could not label pod %s/%s %s: %s", namespace, name, ROLE_LABEL, error.status.message)


async def advertise_role(client: AsyncClient, gate: ActiveGate, name: str, namespace: str) -> None:
    """Label the pod standby now, then follow the gate. `active` only once the gate has stayed open for
    SETTLE_SECONDS: a new replica's gate is open until kopf's first peering pass pauses it, and a resumed
    replica needs kopf's re-listing to fill its access state."""
    await label_own_pod(client, name, namespace, active=False)
    labelled_active = False
    while True:
        if gate.is_open and not labelled_active:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gate.wait_change(True), timeout=SETTLE_SECONDS)
            if gate.is_open:
                labelled_active = True
                await label_own_pod(client, name, namespace, active=True)
        elif not gate.is_open and labelled_active:
            labelled_active = False
            await label_own_pod(client, name, namespace, active=False)
        else:
            await gate.wait_change(gate.is_open)
