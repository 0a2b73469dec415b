"""The recorder's Prometheus metrics, in a registry of its own (one recorder per process, several per test)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class RecorderMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.bytes_written = Counter(
            "camfleet_recorder_bytes_written", "Bytes of completed segments written.", registry=registry
        )
        self.segments = Gauge(
            "camfleet_recorder_segments", "Segments on the volume (not yet pruned).", registry=registry
        )
        self.oldest_segment_age = Gauge(
            "camfleet_recorder_oldest_segment_age_seconds",
            "Time since the END of the oldest segment still kept; above retention plus slack means pruning is stuck.",
            registry=registry,
        )
        self.retention = Gauge(
            "camfleet_recorder_retention_seconds", "The retention the recorder enforces.", registry=registry
        )
        self.legal_hold = Gauge(
            "camfleet_recorder_legal_hold", "1 while a legal hold stops all pruning.", registry=registry
        )
        self.free_bytes = Gauge("camfleet_recorder_free_bytes", "Free bytes on the volume.", registry=registry)
        self.projected_capacity_days = Gauge(
            "camfleet_recorder_projected_capacity_days",
            "Days of footage the volume holds at the observed write rate (NaN until a rate is known).",
            registry=registry,
        )
        self.recording = Gauge(
            "camfleet_recorder_recording",
            "1 while ffmpeg runs (/healthz says whether segments arrive).",
            registry=registry,
        )
        self.capacity_alarm = Gauge(
            "camfleet_recorder_capacity_alarm",
            "1 when the volume cannot hold the retention at the current rate, or is full.",
            registry=registry,
        )
        self.volume_full = Gauge(
            "camfleet_recorder_volume_full",
            "1 while recording is stopped because the volume is full.",
            registry=registry,
        )
        self.ffmpeg_restarts = Counter(
            "camfleet_recorder_ffmpeg_restarts", "ffmpeg restarts after it exited on its own.", registry=registry
        )
        self.projected_capacity_days.set(float("nan"))
