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
from camfleet.clock import SYSTEM_CLOCK
from camfleet.config import FIELD_MANAGER, OperatorConfig
from camfleet.control.ptz_board import PtzBoard
from camfleet.control.ptz_relay import PtzRelay
from camfleet.controllers.approvals import ApprovalRecorder
from camfleet.controllers.camera import CameraController
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

log = logging.getLogger(__name__)


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
        # Every replica follows the authorities: standbys answer admission requests too.
        controllers.append(
            asyncio.create_task(
                follow_authorities(client, authorities, RESOURCES["CamfleetAuthorities"]), name="authorities"
            )
        )
        cameras = CameraController(client, events, config, camera_store, clock)
        gate = ActiveGate(peered=not config.standalone)
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
        )
        credentials = GrantCredentials(client, gateway, secrets.signing_keys, clock)
        stamp_keys = (secrets.stamp_key,)
        grants = GrantController(
            client,
            events,
            camera_store,
            approval_store,
            credentials,
            calendar,
            clock,
            authorities=authorities,
            stamp_keys=stamp_keys,
        )
        checkpoints = ChainCheckpointer(
            client, events, camera_store, secrets.signing_keys, clock, config.chain_checkpoint_seconds,
            member_recording=recording.member_recording,
        )  # fmt: skip
        memo = OperatorContext(
            config=config,
            client=client,
            events=events,
            health=health,
            camera_store=camera_store,
            approval_store=approval_store,
            cameras=cameras,
            recording=recording,
            retention=RetentionJanitor(client, events, clock, config.retention_floor_days),
            grants=grants,
            approvals=ApprovalRecorder(client, events, clock, stamp_keys),
            exports=ExportController(
                client,
                events,
                camera_store,
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
        )
        camera_store.subscribe(memo.camera_access_changed)
        camera_store.subscribe(lambda key, body: memo.tier_credentials.cameras_changed())
        camera_store.subscribe(lambda key, body: ptz.board.forget(f"{key[0]}/{key[1]}") if body is None else None)
        relay_paths = None
        if config.gateway_api_url:
            # Each camera's original stream on the media gateway, at `<namespace>/<camera>` (gateway.relay_paths).
            relay_paths = GatewayPathsController(client, camera_store, MediaMtxPaths(config.gateway_api_url))
            camera_store.subscribe(relay_paths.camera_changed)
        settings = kopf.OperatorSettings()
        configure(settings, config)
        if config.cluster_peering is not None:
            kopf.on.startup()(peer_cluster_wide)
        if not config.standalone:
            follow_kopf_peering(gate)
        loops: list[tuple[str, Coroutine[Any, Any, None]]] = [
            ("camera controller", cameras.run(gate)),
            ("ptz terms", cameras.follow_terms(gate)),
            ("recording controller", recording.run(gate)),
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
        await client.close()
        for runner in runners:
            await runner.cleanup()


def _report_death(task: asyncio.Task[None]) -> None:
    """A controller loop never ends on its own: one that raised must say so now, not stay silently dead (its
    exception would otherwise surface only when the task is collected, if at all)."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("%s stopped on an exception", task.get_name(), exc_info=error)


def main(config: OperatorConfig) -> None:
    asyncio.run(run(config))
