"""What every handler shares, handed to kopf as its `memo`."""

from __future__ import annotations

from dataclasses import dataclass

from lightkube import AsyncClient

from camfleet.config import OperatorConfig
from camfleet.controllers.camera import CameraController
from camfleet.controllers.recording import RecordingController
from camfleet.controllers.retention import RetentionJanitor
from camfleet.kube.events import EventRecorder
from camfleet.observability.http import Health


@dataclass
class OperatorContext:
    """kopf shallow-copies the memo per object, so these shared clients stay shared."""

    config: OperatorConfig
    client: AsyncClient
    events: EventRecorder
    health: Health
    cameras: CameraController
    recording: RecordingController
    retention: RetentionJanitor
