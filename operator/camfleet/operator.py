"""`camfleet run`: check the CRDs, serve probes, metrics and the decision endpoint, then hand over to kopf."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Coroutine
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import kopf
import yaml
from aiohttp import web
from lightkube import AsyncClient

from camfleet.access.authorities import ClassificationLedger
from camfleet.access.city_time import CityCalendar
from camfleet.active_gate import ActiveGate, follow_kopf_peering
from camfleet.api.constants import GROUP
from camfleet.clock import SYSTEM_CLOCK, Clock
from camfleet.config import FIELD_MANAGER, OperatorConfig
from camfleet.control.ptz_board import PtzBoard
from camfleet.control.ptz_relay import PtzRelay
from camfleet.controllers.approvals import ApprovalRecorder
from camfleet.controllers.camera import PASS_LOG, CameraController
from camfleet.controllers.checkpoints import ChainCheckpointer
from camfleet.controllers.credentials import GrantCredentials
from camfleet.controllers.exports import ExportController
from camfleet.controllers.gateway_paths import GatewayPathsController
from camfleet.controllers.grants import GrantController
from camfleet.controllers.recording import RecordingController, RecordingSettings
from camfleet.controllers.retention import RetentionJanitor
from camfleet.controllers.tier_credentials import TierCredentials
from camfleet.controllers.tiers import TierController
from camfleet.export.job import ExportJobSettings
from camfleet.gateway.callers import GatewayCallers
from camfleet.gateway.http_api import server_tls_context, start_gateway_server
from camfleet.gateway.people import TokenReviews
from camfleet.gateway.ptz_api import PtzService, add_ptz_routes
from camfleet.gateway.publishers import PublisherCredentials
from camfleet.gateway.relay_paths import MediaMtxPaths
from camfleet.gateway.service import Gateway
from camfleet.gateway.state import AccessState
from camfleet.gateway.terminator import terminator_for
from camfleet.kopf_settings import configure, peer_cluster_wide
from camfleet.kube import kopf_listing
from camfleet.kube.crds import ensure_crds
from camfleet.kube.delegated_authn import cluster_client_ca, kube_token_review
from camfleet.kube.events import EventRecorder
from camfleet.kube.gateway_credentials import follow_credentials, refresh
from camfleet.kube.identity import own_username
from camfleet.kube.pod_role import advertise_role
from camfleet.kube.resources import RESOURCES
from camfleet.kube.signing_keys import load_or_create_secrets
from camfleet.kube.store import ApprovalStore, AuthoritiesStore, CameraStore, follow_authorities
from camfleet.kube.webhook_tls import make_webhook_certificate
from camfleet.observability.audit import configure_audit_log
from camfleet.observability.event_loop import watch_event_loop
from camfleet.observability.http import Health, start_http
from camfleet.operator_context import OperatorContext
from camfleet.recording.workloads import RecorderSettings
from camfleet.sharding.leases import LeaseGate, hold, release
from camfleet.sharding.membership import MANAGED_LABELS, SHARD_LEASE_LABELS, SHARDER_LEASE, lease_name
from camfleet.sharding.sharder import Sharder
from camfleet.sharding.slice_member import SliceMember

log = logging.getLogger(__name__)
LEAVE_WAIT_SECONDS = 10.0  # a device pass in flight ends within its ONVIF timeouts, or is abandoned with the process


async def _start_decision_endpoint(
    gateway: Gateway, config: OperatorConfig, ptz: PtzService, client_ca: str | None
) -> web.AppRunner:
    """TLS only (R17): a mounted certificate when given, else one from a private CA made now. The PTZ control
    API is served beside the decision endpoint, under the same TLS, which asks (never requires) a client
    certificate signed by the cluster's client CA: how a person steering proves who they are."""
    if config.decision_cert_dir:
        folder = Path(config.decision_cert_dir)
        tls = server_tls_context(folder / "tls.crt", folder / "tls.key", client_ca)
    else:
        host = "127.0.0.1" if config.decision_addr in ("0.0.0.0", "::") else config.decision_addr
        made = make_webhook_certificate(Path(tempfile.mkdtemp(prefix="camfleet-decision-")), [host])
        tls = server_tls_context(made.certfile, made.pkeyfile, client_ca)
    return await start_gateway_server(
        gateway,
        config.decision_addr,
        config.decision_port,
        tls=tls,
        more_routes=lambda app: add_ptz_routes(app, ptz),
    )


def city_calendar(config: OperatorConfig) -> CityCalendar:
    """Time zone and working days for seasons (R14) and approval deadlines (R11)."""
    document = yaml.safe_load(Path(config.holidays_file).read_text()) if config.holidays_file else {}
    return CityCalendar(
        time_zone=ZoneInfo(config.city_time_zone),
        holidays=frozenset(date.fromisoformat(str(d)) for d in document.get("holidays", [])),
        working_weekends=frozenset(date.fromisoformat(str(d)) for d in document.get("workingWeekends", [])),
    )


async def run(config: OperatorConfig) -> None:
    import camfleet.handlers  # noqa: F401 - registers the handlers with kopf

    configure_audit_log()
    health = Health()
    http = await start_http(health, config.http_host, config.http_port)
    client = AsyncClient(field_manager=FIELD_MANAGER)
    runners: list[web.AppRunner] = [http]
    controllers: list[asyncio.Task[None]] = []
    try:
        await ensure_crds(client, install=config.install_crds)
        secrets = await load_or_create_secrets(client, config.operator_namespace, config.signing_keys_secret)
        health.crds_ready = True
        events = EventRecorder(client)
        calendar = city_calendar(config)
        state = AccessState(secrets.signing_keys, calendar)
        terminator = terminator_for(config.gateway_api_url)
        callers = GatewayCallers()
        await refresh(callers, client, config.operator_namespace, config.gateway_credentials_secret, start=True)
        publishers = PublisherCredentials([secrets.publisher_secret])
        gateway = Gateway(state, publishers=publishers, terminator=terminator, callers=callers)

        clock = SYSTEM_CLOCK
        camera_store, approval_store, authorities = CameraStore(), ApprovalStore(), AuthoritiesStore()
        access_store, gate, slice_gate = stores_and_gates(config, camera_store, clock)
        # Every replica follows the authorities: standbys answer admission requests too.
        controllers.append(
            asyncio.create_task(
                follow_authorities(client, authorities, RESOURCES["CamfleetAuthorities"]), name="authorities"
            )
        )
        cameras = CameraController(client, events, config, camera_store, clock)
        # PTZ holders live in the active replica's memory and in each Camera's status.ptzControl, which the next
        # active replica adopts (control/ptz_board.py); a standby answers no PTZ request (docs/ptz-control.md).
        ptz_relay = PtzRelay(cameras.device_access, config.onvif_timeout_seconds)
        board = PtzBoard(silent_after=timedelta(seconds=config.ptz_silent_after_seconds))
        ptz = PtzService(
            gateway,
            board,
            ptz_relay,
            clock.now,
            on_change=cameras.ptz_changed,
            record=cameras.record_ptz,
            active=lambda: gate.is_open,
            token_reviews=TokenReviews(kube_token_review(client)),
        )
        cameras.attach_ptz(ptz.board)
        runners.append(await _start_decision_endpoint(gateway, config, ptz, await cluster_client_ca(client)))
        recorder_settings = RecorderSettings(image=config.recorder_image, gateway_rtsp_url=config.gateway_rtsp_url)
        recording_settings = RecordingSettings(
            recorder_settings, config.retention_floor_days, config.namespaces, publishers.password_for
        )
        recording = RecordingController(
            client,
            events,
            camera_store,
            recording_settings,
            clock,
            verdicts=cameras.set_recording,
            masked_streams=lambda key, profiles: state.set_masking_profiles(f"{key[0]}/{key[1]}", profiles),
            cameras_listed=lambda namespace: kopf_listing.listed(GROUP, "cameras", namespace),
        )
        cameras.attach_recording(recording.streams_observed, recording.credentials_read, recording.selecting_policy)
        credentials = GrantCredentials(client, gateway, secrets.signing_keys, clock)
        stamp_keys = (secrets.stamp_key,)
        grants = GrantController(
            client,
            events,
            access_store,
            approval_store,
            credentials,
            calendar,
            clock,
            authorities=authorities,
            stamp_keys=stamp_keys,
        )
        checkpoints = ChainCheckpointer(
            client, events, access_store, secrets.signing_keys, clock, config.chain_checkpoint_seconds,
            member_recording=recording.member_recording,
        )  # fmt: skip
        memo = OperatorContext(
            config=config,
            client=client,
            events=events,
            health=health,
            camera_store=access_store,
            approval_store=approval_store,
            cameras=cameras,
            recording=recording,
            retention=RetentionJanitor(client, events, clock, config.retention_floor_days),
            grants=grants,
            approvals=ApprovalRecorder(client, events, clock, stamp_keys),
            exports=ExportController(
                client,
                events,
                access_store,
                approval_store,
                ExportJobSettings(image=config.export_image),
                clock,
                stamp_keys,
                authorities=authorities,
                calendar=calendar,
            ),
            credentials=credentials,
            access_state=state,
            tiers=TierController(client, calendar, clock),
            tier_credentials=TierCredentials(
                client,
                gateway,
                secrets.signing_keys,
                clock,
                calendar,
                lifetime=timedelta(seconds=config.tier_credential_lifetime_seconds),
                rotate_before=timedelta(seconds=config.tier_credential_rotate_before_seconds),
            ),
            authorities=authorities,
            classifications=ClassificationLedger(),
            clock=clock,
            stamp_key=secrets.stamp_key,
            operator_usernames=tuple(name for name in [await own_username(client)] if name),
            checkpoints=checkpoints,
            shard=slice_member(client, config, cameras),
        )
        access_store.subscribe(memo.camera_access_changed)
        access_store.subscribe(lambda key, body: memo.tier_credentials.cameras_changed())
        access_store.subscribe(lambda key, body: ptz.board.forget(f"{key[0]}/{key[1]}") if body is None else None)
        relay_paths = None
        if config.gateway_api_url:
            # Each camera's original stream on the media gateway, at `<namespace>/<camera>` (gateway.relay_paths).
            relay_paths = GatewayPathsController(client, access_store, MediaMtxPaths(config.gateway_api_url))
            access_store.subscribe(relay_paths.camera_changed)
        settings = kopf.OperatorSettings()
        configure(settings, config)
        if config.cluster_peering is not None:
            kopf.on.startup()(peer_cluster_wide)
        if config.peered:
            follow_kopf_peering(gate)
        loops: list[tuple[str, Coroutine[Any, Any, None]]] = [
            ("camera controller", cameras.run(slice_gate)),
            ("ptz terms", cameras.follow_terms(gate)),
            ("recording controller", recording.run(slice_gate)),
            ("retention janitor", memo.retention.run(gate)),
            ("grant controller", grants.run(gate, config.namespaces)),
            ("export controller", memo.exports.run(gate)),
            ("tier controller", memo.tiers.run(gate)),
            ("tier credentials", memo.tier_credentials.run(gate)),
            (
                "gateway credentials",
                follow_credentials(callers, client, config.operator_namespace, config.gateway_credentials_secret),
            ),
            ("chain checkpointer", checkpoints.run(gate)),
            ("event loop watch", watch_event_loop()),  # camfleet_event_loop_lag_seconds; the collector's schedule
        ]
        if relay_paths is not None:
            loops.append(("gateway paths", relay_paths.run(gate)))
        loops.extend(sharding_loops(client, config, clock, gate, slice_gate, access_store, recording))
        if config.pod:
            pod_namespace, pod_name = config.pod
            loops.append(("pod role", advertise_role(client, gate, pod_name, pod_namespace)))
        for name, loop in loops:
            controller = asyncio.create_task(loop, name=name)
            controller.add_done_callback(_report_death)
            controllers.append(controller)
        await kopf.operator(settings=settings, clusterwide=config.clusterwide, namespaces=config.namespaces, memo=memo)
    finally:
        for controller in controllers:
            controller.cancel()
        await leave_shards(client, config, controllers)
        await client.close()
        for runner in runners:
            await runner.cleanup()


def stores_and_gates(
    config: OperatorConfig, camera_store: CameraStore, clock: Clock
) -> tuple[CameraStore, ActiveGate, ActiveGate]:
    """The access controllers' camera store, their gate, and the camera work's gate.

    Sharded: the camera controller's store holds this replica's slice, while the access controllers judge every
    camera, from the store the elected replica's sharder fills; the access gate opens on the elected replica (a
    Lease), the camera gate while this replica's membership Lease is held. Otherwise: one store, and kopf's
    peering (or nothing, standalone) opens the one gate."""
    if not config.sharding:
        gate = ActiveGate(peered=not config.standalone)
        return camera_store, gate, gate
    return CameraStore(), LeaseGate(clock), LeaseGate(clock)


def slice_member(client: AsyncClient, config: OperatorConfig, cameras: CameraController) -> SliceMember | None:
    return SliceMember(client, config.shard_id, cameras) if config.sharding else None


def sharding_loops(
    client: AsyncClient,
    config: OperatorConfig,
    clock: Clock,
    access_gate: ActiveGate,
    slice_gate: ActiveGate,
    access_store: CameraStore,
    recording: RecordingController,
) -> list[tuple[str, Coroutine[Any, Any, None]]]:
    """Membership (this replica's Lease opens its camera work), the election of the one replica that runs the
    sharder and the access controllers, and the sharder itself; nothing without --sharding."""
    if not (config.sharding and isinstance(access_gate, LeaseGate) and isinstance(slice_gate, LeaseGate)):
        return []
    logging.getLogger(PASS_LOG.name).setLevel(logging.INFO)  # who reconciled which camera when
    namespace = config.operator_namespace
    sharder = Sharder(client, namespace, config.namespaces, clock, access_store, recording)
    recording.follow_every_camera(access_store, access_gate, sharder.every_camera_listed)
    return [
        (
            "shard membership",
            hold(
                client,
                namespace,
                lease_name(config.shard_id),
                config.shard_id,
                SHARD_LEASE_LABELS,
                clock,
                slice_gate,
                stop_when_lost=True,
            ),
        ),
        (
            "sharder election",
            hold(client, namespace, SHARDER_LEASE, config.shard_id, MANAGED_LABELS, clock, access_gate),
        ),
        ("sharder", sharder.run(access_gate)),
    ]


async def leave_shards(client: AsyncClient, config: OperatorConfig, controllers: list[asyncio.Task[None]]) -> None:
    """Stopping with --sharding: once no controller works any more, give up this replica's Leases, so that its
    cameras (and the sharder's part, if it had it) go to the others at the next round instead of after expiry."""
    if not config.sharding:
        return
    if controllers:
        await asyncio.wait(controllers, timeout=LEAVE_WAIT_SECONDS)
    for name in (lease_name(config.shard_id), SHARDER_LEASE):
        await release(client, config.operator_namespace, name, config.shard_id)


def _report_death(task: asyncio.Task[None]) -> None:
    """A controller loop never ends on its own: one that raised must say so now, not stay silently dead (its
    exception would otherwise surface only when the task is collected, if at all)."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("%s stopped on an exception", task.get_name(), exc_info=error)


def main(config: OperatorConfig) -> None:
    asyncio.run(run(config))
