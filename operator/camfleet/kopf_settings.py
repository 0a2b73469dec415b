"""kopf settings, chosen deliberately rather than inherited.

kopf's defaults store progress in `status.kopf`, post an Event for every handler
at INFO and run unlimited workers. camfleet keeps `status` for its own API
(kopf's bookkeeping goes to annotations under our prefix), posts its own Events
only on transitions (kopf may still post Warnings for handler failures), and
bounds concurrency.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import kopf

from camfleet.api import GROUP
from camfleet.config import ANNOTATION_PREFIX, FINALIZER, PEERING_NAME, OperatorConfig
from camfleet.export.job import COMPONENT as EXPORT_COMPONENT
from camfleet.kube import kopf_listing
from camfleet.kube.webhook_tls import make_webhook_certificate
from camfleet.recording.workloads import COMPONENT_LABEL, MANAGED_BY, RETENTION_VOLUME_LABEL
from camfleet.sharding.assignment import REPLICA_LABEL


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in labels.items())


# Kinds camfleet does not own, watched only for its own objects: the same labels as the handlers filter on
# (handlers/recording.py, handlers/access.py).
WATCHED_BY_LABEL = {
    ("apps", "v1", "deployments"): _selector(MANAGED_BY),  # recorders and transcoders
    ("", "v1", "persistentvolumeclaims"): _selector({RETENTION_VOLUME_LABEL: "true"}),
    ("batch", "v1", "jobs"): _selector({COMPONENT_LABEL: EXPORT_COMPONENT}),
}


def webhook_server(config: OperatorConfig) -> kopf.WebhookServer:
    """TLS only: a mounted certificate (cert-manager) when given, else a private CA made now."""
    host = config.webhook_host or ("127.0.0.1" if config.webhook_addr in ("0.0.0.0", "::") else config.webhook_addr)
    if config.webhook_cert_dir:
        folder = Path(config.webhook_cert_dir)
        ca = folder / "ca.crt"
        return kopf.WebhookServer(
            addr=config.webhook_addr,
            port=config.webhook_port,
            host=host,
            certfile=folder / "tls.crt",
            pkeyfile=folder / "tls.key",
            cadata=ca.read_bytes() if ca.exists() else None,
        )
    made = make_webhook_certificate(Path(tempfile.mkdtemp(prefix="camfleet-webhook-")), [host, config.webhook_addr])
    return kopf.WebhookServer(
        addr=config.webhook_addr,
        port=config.webhook_port,
        host=host,
        certfile=made.certfile,
        pkeyfile=made.pkeyfile,
        cadata=made.ca_pem,
    )


class NoDiffBase(kopf.DiffBaseStorage):
    """camfleet has no on.create/on.update handlers, so kopf's diff-base (the last handled spec, kept in an
    annotation) serves nothing, yet kopf writes it on every new object and spec change: one PATCH per camera,
    10,000 at a fleet's start. Without it kopf sees every event as a creation with no handler, and does nothing;
    deletion handlers (finalizers) do not depend on it."""

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def configure(settings: kopf.OperatorSettings, config: OperatorConfig) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.posting.level = logging.WARNING
    settings.batching.worker_limit = config.worker_limit
    # A per-object worker holds its slot until no event came for `idle_timeout`, so kopf takes on at most
    # worker_limit / idle_timeout objects per second and resource kind: 32 / 5 s (kopf's default) throttled a
    # fleet's start-up to ~6 cameras a second. Our handlers only hand events to the controllers' own queues.
    settings.batching.idle_timeout = 0.5
    # kopf consumes its initial listing only as fast as its workers take objects: at 10,000 cameras a paginated
    # listing outlived its continue token (410 Gone), which kopf 1.45 treats as fatal. kube/kopf_listing.py lists
    # again from the start instead; were kopf's listing not the one it wraps, one unpaginated reply per kind
    # (a memory peak: ~73 MB of heap at 2,000 cameras) rather than an operator that stops.
    if kopf_listing.install():
        settings.watching.chunk_size = kopf_listing.PAGE
    # Handler label filters act on the client side: without these, the operator would receive, parse and remember
    # every Deployment, claim and Job of the cluster. Only camfleet's own are watched.
    for resource, selector in WATCHED_BY_LABEL.items():
        settings.watching.label_selectors[resource] = selector
    settings.peering.name = config.cluster_peering or PEERING_NAME
    settings.peering.clusterwide = config.clusterwide or config.cluster_peering is not None
    settings.peering.priority = config.peering_priority
    settings.peering.standalone = config.standalone or config.sharding
    # With replicas, a missing peering object must pause work rather than let two replicas
    # both act; `--install-crds` and the Helm chart create it.
    settings.peering.mandatory = not settings.peering.standalone
    if config.sharding:
        # Server-side: this replica lists, watches and keeps only the cameras the sharder gave it. Every other kind
        # is watched whole by every replica; the access controllers act only on the elected one (operator.py).
        settings.watching.label_selectors[GROUP, "cameras"] = f"{REPLICA_LABEL}={config.shard_id}"
    settings.peering.stealth = True
    # Watches are re-established well before typical load-balancer idle timeouts.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.networking.request_timeout = 30
    if config.webhooks:
        settings.admission.server = webhook_server(config)
        if config.webhook_manage_configuration:
            # kopf keeps the Validating/MutatingWebhookConfiguration named camfleet.io in step with the handlers.
            settings.admission.managed = "camfleet.io"


async def peer_cluster_wide(settings: kopf.OperatorSettings, **_: object) -> None:
    """kopf.operator() sets the peering mode from the operator's (namespaced with --namespace); a startup activity
    runs after that and before kopf looks for its peering objects, so only here can a namespaced operator be told
    to peer through a ClusterKopfPeering (kopf's documented way: settings.peering.clusterwide at startup)."""
    settings.peering.clusterwide = True
