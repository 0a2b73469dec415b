"""Operator run-time configuration: command-line flags with environment fallbacks."""

from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass, field

FIELD_MANAGER = "camfleet"
ANNOTATION_PREFIX = "camfleet.io"
FINALIZER = "camfleet.io/finalizer"
PEERING_NAME = "camfleet"


@dataclass(frozen=True)
class OperatorConfig:
    """Everything `camfleet run` can be told; defaults suit one replica on a small cluster."""

    namespaces: tuple[str, ...] = ()
    install_crds: bool = False
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    # kopf's per-object workers only hand events to the controllers' queues; see kopf_settings for the limit's cost.
    worker_limit: int = 500
    standalone: bool = False
    # Replicas with equal priority would all pause each other, so every
    # process draws its own unless one is configured.
    peering_priority: int = field(default_factory=lambda: random.randint(1, 1_000_000))
    # A ClusterKopfPeering of this name instead of the default peering (the Helm chart's, one per release), so a
    # namespaced operator needs no peering object in the namespaces it watches.
    cluster_peering: str | None = None
    resync_seconds: float = 300.0
    # Healthy re-verification is a lean pass (issue 20, cameras/pass_schedule.py); a full one at least this often:
    # what lean passes never read (a firmware upgrade, moved service addresses or stream URIs) is seen within a shift.
    full_pass_seconds: float = 6 * 3600.0
    retry_first_seconds: float = 5.0
    retry_max_seconds: float = 300.0
    onvif_concurrency: int = 50
    onvif_timeout_seconds: float = 10.0
    # CIDRs the operator may contact devices in; empty means anywhere.
    device_networks: tuple[str, ...] = ()
    recorder_image: str = "ghcr.io/camfleet/camfleet-recorder:0.1.0"
    gateway_rtsp_url: str = "rtsp://camfleet-gateway:8554"
    # R2: a law may ask for more than 30 days; the cluster-wide floor raises every policy, never lowers.
    retention_floor_days: int = 30
    # R3: who may set or lift a legal hold on a retention volume by hand (until issue 14's authorities config).
    legal_hold_groups: tuple[str, ...] = ("camfleet.io/legal-hold-authority",)
    # Admission webhooks (TLS only). host: how the API server reaches them; cert_dir: mounted tls.crt/tls.key
    # (and ca.crt), else a private CA is made at start-up.
    webhooks: bool = True
    webhook_addr: str = "0.0.0.0"
    webhook_port: int = 9443
    webhook_host: str | None = None
    webhook_cert_dir: str | None = None
    webhook_manage_configuration: bool = True
    city_time_zone: str = "Asia/Shanghai"
    # YAML file: {holidays: [dates], workingWeekends: [dates]}, for R11's working days.
    holidays_file: str | None = None
    # Where the operator keeps its own Secrets (token signing keys, transcoder publishing secret).
    operator_namespace: str = field(default_factory=lambda: os.environ.get("POD_NAMESPACE", "camfleet-system"))
    signing_keys_secret: str = "camfleet-signing-keys"
    # The access decision endpoint (MediaMTX auth hook, /v1/decide, JWKS), TLS only.
    decision_addr: str = "0.0.0.0"
    decision_port: int = 8443
    decision_cert_dir: str | None = None
    # The Secret (operator namespace) with each media gateway's credential for the decision endpoint.
    gateway_credentials_secret: str = "camfleet-gateway-credentials"
    gateway_api_url: str | None = None
    export_image: str = "ghcr.io/camfleet/camfleet-recorder:0.1.0"
    # This replica's own pod (the chart's downward API), labelled with its peering role so that the decision
    # Service sends the media gateway only to the replica that holds the access state. None: not in a pod.
    pod: tuple[str, str] | None = field(default_factory=lambda: _pod_from_environment())
    # How often each recorder's chain head is read and, when it moved, signed into `<camera>-chain` (R3).
    chain_checkpoint_seconds: float = 60.0
    # R13: a PTZ holder without a lock that sends nothing for this long has let go of the camera.
    ptz_silent_after_seconds: float = 30.0
    # R18: a tier credential lives at most this long, and a new one is written this long before it expires.
    tier_credential_lifetime_seconds: float = 3600.0
    tier_credential_rotate_before_seconds: float = 900.0
    # Sharded replicas (camfleet.sharding): each camera belongs to one replica, named by this id; kopf peering is off
    # and a Lease elects the one replica running the sharder and the access controllers.
    sharding: bool = False
    shard_id: str = field(default_factory=lambda: os.environ.get("POD_NAME") or socket.gethostname())

    @property
    def peered(self) -> bool:
        """kopf peering elects the one working replica (not standalone, not sharded)."""
        return not self.standalone and not self.sharding

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces


def _pod_from_environment() -> tuple[str, str] | None:
    namespace, name = os.environ.get("POD_NAMESPACE"), os.environ.get("POD_NAME")
    return (namespace, name) if namespace and name else None


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default
