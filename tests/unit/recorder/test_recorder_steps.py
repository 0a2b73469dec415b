"""The recorder's own steps on a real directory, with the clock under the test's control (no ffmpeg)."""

from __future__ import annotations

from pathlib import Path

import pytest

from camfleet.recorder_pod.clock import ManualClock
from camfleet.recorder_pod.config import RecorderConfig
from camfleet.recorder_pod.manifest import Manifest
from camfleet.recorder_pod.retention import SECONDS_PER_DAY
from camfleet.recorder_pod.storage import VolumeLocked, file_digest, segment_files, segments_dir
from camfleet.recorder_pod.supervisor import Recorder
from camfleet.recorder_pod.verify import verify

T0 = 1_767_225_600.0
DAY = SECONDS_PER_DAY


def config(data_dir: Path, legal_hold: bool = False) -> RecorderConfig:
    return RecorderConfig(
        stream_url="rtsp://cam/live", username=None, password=None, data_dir=data_dir, legal_hold=legal_hold
    )


def recorded_volume(data_dir: Path, ends: list[float]) -> None:
    segments_dir(data_dir).mkdir(parents=True)
    manifest = Manifest.open(data_dir)
    for number, end in enumerate(ends, start=1):
        path = segments_dir(data_dir) / f"seg-{number:09d}.ts"
        path.write_bytes(bytes([number]) * 4000)
        size, sha256 = file_digest(path)
        manifest.record_segment(path.name, size, sha256, start=end - 60, end=end, recovered=False)


def gauge(recorder: Recorder, name: str) -> float:
    value = recorder.metrics.registry.get_sample_value(name)
    assert value is not None
    return value


def test_pruning_deletes_exactly_the_expired_segments(tmp_path: Path) -> None:
    recorded_volume(tmp_path, [T0, T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY])
    clock = ManualClock(T0 + 31.5 * DAY)  # segments 1 and 2 ended more than 30 days ago
    recorder = Recorder(config(tmp_path), clock)
    recorder.open_volume()
    try:
        assert recorder.prune() == ["seg-000000001.ts", "seg-000000002.ts"]
        assert segment_files(tmp_path) == ["seg-000000003.ts", "seg-000000004.ts"]
        assert recorder.prune() == []  # idempotent
        recorder.refresh_capacity()
        assert gauge(recorder, "camfleet_recorder_segments") == 2
        assert gauge(recorder, "camfleet_recorder_oldest_segment_age_seconds") == pytest.approx(29.5 * DAY)
    finally:
        recorder.close_volume()
    assert verify(tmp_path, now=clock.now()).intact


def test_legal_hold_prunes_nothing_however_old(tmp_path: Path) -> None:
    recorded_volume(tmp_path, [T0, T0 + DAY])
    recorder = Recorder(config(tmp_path, legal_hold=True), ManualClock(T0 + 3650 * DAY))
    recorder.open_volume()
    try:
        assert recorder.prune() == []
    finally:
        recorder.close_volume()
    assert len(segment_files(tmp_path)) == 2


def test_a_deletion_interrupted_by_a_crash_is_finished_on_restart(tmp_path: Path) -> None:
    recorded_volume(tmp_path, [T0, T0 + DAY])
    Manifest.open(tmp_path).record_prune("seg-000000001.ts", pruned_at=T0 + 31 * DAY, retention_seconds=30 * DAY)
    recorder = Recorder(config(tmp_path), ManualClock(T0 + 31 * DAY))
    recorder.open_volume()
    recorder.close_volume()
    assert segment_files(tmp_path) == ["seg-000000002.ts"]
    assert verify(tmp_path, now=T0 + 31 * DAY).intact


def test_segments_a_crash_left_unrecorded_are_adopted_and_kept_for_the_full_retention(tmp_path: Path) -> None:
    recorded_volume(tmp_path, [T0])
    (segments_dir(tmp_path) / "seg-000000002.ts").write_bytes(b"partial segment")
    clock = ManualClock(T0 + 10)
    recorder = Recorder(config(tmp_path), clock)
    recorder.open_volume()
    try:
        assert recorder.adopt_unlisted() == ["seg-000000002.ts"]
        clock.set(T0 + 30 * DAY + 5)  # the first segment has expired, the adopted one has not
        assert recorder.prune() == ["seg-000000001.ts"]
    finally:
        recorder.close_volume()
    assert verify(tmp_path, now=clock.now()).intact


def test_a_second_recorder_on_the_same_volume_is_refused(tmp_path: Path) -> None:
    first = Recorder(config(tmp_path), ManualClock(T0))
    first.open_volume()
    try:
        with pytest.raises(VolumeLocked):
            Recorder(config(tmp_path), ManualClock(T0)).open_volume()
    finally:
        first.close_volume()
