"""`camfleet run`: check the CRDs, serve probes and metrics, then hand over to kopf."""

from __future__ import annotations

import asyncio

import kopf
from lightkube import AsyncClient

from camfleet.config import FIELD_MANAGER, OperatorConfig
from camfleet.context import OperatorContext
from camfleet.controllers.camera import CameraController
from camfleet.controllers.recording import RecordingController, RecordingSettings
from camfleet.controllers.retention import RetentionJanitor
from camfleet.kopf_settings import configure
from camfleet.kube.crds import ensure_crds
from camfleet.kube.events import EventRecorder
from camfleet.observability.http import Health, start_http
from camfleet.recording.children import RecorderSettings


async def run(config: OperatorConfig) -> None:
    import camfleet.handlers  # noqa: F401 - registers the handlers with kopf

    health = Health()
    http = await start_http(health, config.http_host, config.http_port)
    client = AsyncClient(field_manager=FIELD_MANAGER)
    try:
        await ensure_crds(client, install=config.install_crds)
        health.crds_ready = True
        events = EventRecorder(client)
        cameras = CameraController(client, events, config)
        recorder_settings = RecorderSettings(image=config.recorder_image, gateway_rtsp_url=config.gateway_rtsp_url)
        recording = RecordingController(
            client, events, cameras, RecordingSettings(recorder_settings, config.retention_floor_days)
        )
        retention = RetentionJanitor(client, events)
        memo = OperatorContext(
            config=config,
            client=client,
            events=events,
            health=health,
            cameras=cameras,
            recording=recording,
            retention=retention,
        )
        settings = kopf.OperatorSettings()
        configure(settings, config)
        controllers = [
            asyncio.create_task(cameras.run(), name="camera controller"),
            asyncio.create_task(recording.run(), name="recording controller"),
            asyncio.create_task(retention.run(), name="retention janitor"),
        ]
        try:
            await kopf.operator(
                settings=settings, clusterwide=config.clusterwide, namespaces=config.namespaces, memo=memo
            )
        finally:
            for controller in controllers:
                controller.cancel()
    finally:
        await client.close()
        await http.cleanup()


def main(config: OperatorConfig) -> None:
    asyncio.run(run(config))
