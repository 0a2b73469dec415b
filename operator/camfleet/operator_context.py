"""What every handler shares, handed to kopf as its `memo`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lightkube import AsyncClient

from camfleet.access.authorities import ClassificationLedger
from camfleet.access.decision_inputs import CameraFactsMemo
from camfleet.clock import Clock
from camfleet.config import OperatorConfig
from camfleet.controllers.approvals import ApprovalRecorder
from camfleet.controllers.camera import CameraController
from camfleet.controllers.checkpoints import ChainCheckpointer
from camfleet.controllers.credentials import GrantCredentials
from camfleet.controllers.exports import ExportController
from camfleet.controllers.grants import GrantController
from camfleet.controllers.recording import RecordingController
from camfleet.controllers.retention import RetentionJanitor
from camfleet.controllers.tier_credentials import TierCredentials
from camfleet.controllers.tiers import TierController
from camfleet.gateway.state import AccessState
from camfleet.kube.events import EventRecorder
from camfleet.kube.store import ApprovalStore, AuthoritiesStore, CameraStore, Key
from camfleet.observability.http import Health
from camfleet.sharding.slice_member import SliceMember


@dataclass
class OperatorContext:
    """kopf shallow-copies the memo per object, so these shared clients and controllers stay shared."""

    config: OperatorConfig
    client: AsyncClient
    events: EventRecorder
    health: Health
    camera_store: CameraStore
    approval_store: ApprovalStore
    cameras: CameraController
    recording: RecordingController
    retention: RetentionJanitor
    grants: GrantController
    approvals: ApprovalRecorder
    exports: ExportController
    credentials: GrantCredentials
    access_state: AccessState
    tiers: TierController
    tier_credentials: TierCredentials
    authorities: AuthoritiesStore
    classifications: ClassificationLedger
    clock: Clock
    stamp_key: bytes = b""
    """Seals the admission webhooks' approver and requester stamps (`access.identity`); from the signing-keys
    Secret, the same in every replica."""
    operator_usernames: tuple[str, ...] = ()
    """Who the operator is to the API server (learned at start): the retention guard lets it do what a policy says."""
    checkpoints: ChainCheckpointer | None = None
    """Signs each recorder's chain head into `<camera>-chain` (R3)."""
    shard: SliceMember | None = None
    """With --sharding: this replica's side of the drain handshake (camfleet.sharding)."""
    camera_facts: CameraFactsMemo = field(default_factory=CameraFactsMemo)
    """What the decision endpoint knows of each camera, parsed again only when its spec or labels changed."""

    def camera_access_changed(self, key: Key, body: Mapping[str, Any] | None) -> None:
        """The decision endpoint judges from memory, so it learns every camera change at once."""
        deleting = body is not None and bool(body["metadata"].get("deletionTimestamp"))
        facts = self.camera_facts.of(key, None if deleting else body)
        if facts is None:
            self.access_state.remove_camera(*key)
        else:
            self.access_state.set_camera(facts)
