"""The recorder's Prometheus metrics, in a registry of its own (one recorder per process, several per test).

A single-camera recorder publishes them without labels, as it always has. A group recorder (several cameras in
one pod) publishes the same metric names with a `camera` label: `MetricFamilies(labelled=True)` holds the families
and `RecorderMetrics(families, camera)` is one member's view of them, with the same attributes as the unlabelled
metrics, so the per-camera pipeline does not know which mode it runs in.
"""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge

CAMERA_LABEL = "camera"
MetricT = TypeVar("MetricT", Gauge, Counter)


class MetricFamilies:
    def __init__(self, labelled: bool, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.labelled = labelled
        labels = (CAMERA_LABEL,) if labelled else ()
        registry = self.registry

        def gauge(name: str, documentation: str) -> Gauge:
            return Gauge(name, documentation, labelnames=labels, registry=registry)

        def counter(name: str, documentation: str) -> Counter:
            return Counter(name, documentation, labelnames=labels, registry=registry)

        self.bytes_written = counter("camfleet_recorder_bytes_written", "Bytes of completed segments written.")
        self.segments = gauge("camfleet_recorder_segments", "Segments on the volume (not yet pruned).")
        self.oldest_segment_age = gauge(
            "camfleet_recorder_oldest_segment_age_seconds",
            "Time since the END of the oldest segment still kept; above retention plus slack means pruning is stuck.",
        )
        self.retention = gauge("camfleet_recorder_retention_seconds", "The retention the recorder enforces.")
        self.legal_hold = gauge("camfleet_recorder_legal_hold", "1 while a legal hold stops all pruning.")
        self.free_bytes = gauge("camfleet_recorder_free_bytes", "Free bytes on the volume.")
        self.projected_capacity_days = gauge(
            "camfleet_recorder_projected_capacity_days",
            "Days of footage the volume holds at the observed write rate (NaN until a rate is known).",
        )
        self.recording = gauge(
            "camfleet_recorder_recording", "1 while ffmpeg runs (/healthz says whether segments arrive)."
        )
        self.capacity_alarm = gauge(
            "camfleet_recorder_capacity_alarm",
            "1 when the volume cannot hold the retention at the current rate, or is full.",
        )
        self.volume_full = gauge(
            "camfleet_recorder_volume_full", "1 while recording is stopped because the volume is full."
        )
        self.ffmpeg_restarts = counter(
            "camfleet_recorder_ffmpeg_restarts", "ffmpeg restarts after it exited on its own."
        )


class RecorderMetrics:
    """One camera's metrics: the unlabelled families (single mode), or its `camera` children (group mode)."""

    def __init__(self, families: MetricFamilies | None = None, camera: str | None = None) -> None:
        families = families or MetricFamilies(labelled=False)
        if families.labelled != (camera is not None):
            raise ValueError("a camera is named exactly when the metrics carry a camera label")
        self.registry = families.registry
        self.camera = camera

        def pick(family: MetricT) -> MetricT:
            return family.labels(camera) if camera is not None else family

        self.bytes_written = pick(families.bytes_written)
        self.segments = pick(families.segments)
        self.oldest_segment_age = pick(families.oldest_segment_age)
        self.retention = pick(families.retention)
        self.legal_hold = pick(families.legal_hold)
        self.free_bytes = pick(families.free_bytes)
        self.projected_capacity_days = pick(families.projected_capacity_days)
        self.recording = pick(families.recording)
        self.capacity_alarm = pick(families.capacity_alarm)
        self.volume_full = pick(families.volume_full)
        self.ffmpeg_restarts = pick(families.ffmpeg_restarts)
        self.projected_capacity_days.set(float("nan"))
