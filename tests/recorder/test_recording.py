"""Real ffmpeg records the simulator's real RTSP stream in 5-second segments; the chain proves what it wrote.

One recording (about 30 s) is shared by the tests in this module, each working on its own copy:
- after two segments ffmpeg is SIGKILLed: the recorder restarts it and keeps the partial segment;
- after four more complete segments the whole recorder is SIGKILLed in the middle of a segment.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from camfleet.recorder_pod.clock import ManualClock
from camfleet.recorder_pod.config import RecorderConfig
from camfleet.recorder_pod.manifest import from_timestamp
from camfleet.recorder_pod.retention import SECONDS_PER_DAY
from camfleet.recorder_pod.storage import segment_files, segments_dir
from camfleet.recorder_pod.supervisor import Recorder
from camfleet.recorder_pod.verify import verify
from tests.recorder.conftest import (
    SEGMENT_SECONDS,
    RecorderProcess,
    cleaned_up,
    copy_recording,
    pid_alive,
    recorded_segments,
    run_verify,
    wait_for,
)

PASSWORD = "camfleet-Pa55:w/rd@recorder-test"
COMPLETE_SEGMENTS = 4


@dataclass(frozen=True)
class Recording:
    data_dir: Path
    log: str
    metrics: dict[str, float]
    health: tuple[int, str]
    killed_ffmpeg_pid: int
    last_ffmpeg_pid: int


def complete(data_dir: Path) -> list[dict[str, object]]:
    return [line for line in recorded_segments(data_dir) if not line.get("recovered")]


@pytest.fixture(scope="module")
def recording(rtsp_port: int, tmp_path_factory: pytest.TempPathFactory) -> Recording:
    root = tmp_path_factory.mktemp("recording")
    data_dir = root / "volume"
    url = f"rtsp://127.0.0.1:{rtsp_port}/cam/lobby-1/main"
    with cleaned_up() as started:
        recorder = RecorderProcess(data_dir, url, PASSWORD, root / "recorder.log")
        started.append(recorder)
        wait_for(lambda: len(complete(data_dir)) >= 2, 60, "two complete segments")

        first_ffmpeg = wait_for(recorder.ffmpeg_pid, 10, "ffmpeg")
        time.sleep(1.5)  # into the third segment
        subprocess.run(["kill", "-KILL", str(first_ffmpeg)], check=True)
        wait_for(lambda: any(line.get("recovered") for line in recorded_segments(data_dir)), 30, "the partial kept")
        wait_for(lambda: len(complete(data_dir)) >= 2 + COMPLETE_SEGMENTS, 90, "segments after the restart")

        metrics = recorder.metrics()
        health = recorder.healthz()
        last_ffmpeg = wait_for(recorder.ffmpeg_pid, 10, "ffmpeg")
        time.sleep(2.0)  # into the next segment: the recorder dies mid-segment
        recorder.process.send_signal(signal.SIGKILL)
        recorder.process.wait(timeout=10)
        wait_for(lambda: not pid_alive(last_ffmpeg), 10, "ffmpeg to die with the recorder")
        return Recording(data_dir, recorder.log(), metrics, health, first_ffmpeg, last_ffmpeg)


def test_every_complete_segment_is_in_the_chain_and_verify_says_intact(recording: Recording) -> None:
    segments = complete(recording.data_dir)
    assert len(segments) >= COMPLETE_SEGMENTS
    for segment in segments:
        duration = from_timestamp(str(segment["end"])) - from_timestamp(str(segment["start"]))
        assert SEGMENT_SECONDS - 1.5 < duration < SEGMENT_SECONDS + 3, segment["name"]
        assert (segments_dir(recording.data_dir) / str(segment["name"])).stat().st_size == segment["size"]
    sealed_in_log = set(re.findall(r"camfleet\.recorder: segment (seg-\d+\.ts):", recording.log))
    assert len(sealed_in_log) >= COMPLETE_SEGMENTS
    assert sealed_in_log == {str(segment["name"]) for segment in segments}

    verified = run_verify(recording.data_dir)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"chain intact: {len(recorded_segments(recording.data_dir))} segments" in verified.stdout


def test_segments_are_the_cameras_stream_copied_not_re_encoded(recording: Recording) -> None:
    segment = segments_dir(recording.data_dir) / str(complete(recording.data_dir)[1]["name"])
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(segment)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    info = json.loads(probe.stdout)
    video = info["streams"][0]
    # The simulator sends 640x360 H.264 baseline; a copy keeps exactly that.
    assert (video["codec_name"], video["width"], video["height"], video["profile"]) == (
        "h264",
        640,
        360,
        "Constrained Baseline",
    )
    assert float(info["format"]["duration"]) > SEGMENT_SECONDS - 1.5


def test_metrics_and_readiness_while_recording(recording: Recording) -> None:
    metrics = recording.metrics
    assert metrics["camfleet_recorder_recording"] == 1
    assert metrics["camfleet_recorder_segments"] >= 1 + COMPLETE_SEGMENTS
    assert metrics["camfleet_recorder_bytes_written_total"] > 0
    assert metrics["camfleet_recorder_free_bytes"] > 0
    assert metrics["camfleet_recorder_projected_capacity_days"] > 0
    assert metrics["camfleet_recorder_oldest_segment_age_seconds"] >= 0
    assert metrics["camfleet_recorder_ffmpeg_restarts_total"] >= 1
    assert recording.health == (200, "recording\n")


@pytest.mark.fault  # recording faults (issue 9.7); runs in the device phase
def test_a_killed_ffmpeg_is_restarted_and_its_partial_segment_kept(recording: Recording) -> None:
    assert recording.last_ffmpeg_pid != recording.killed_ffmpeg_pid
    assert "restarting in" in recording.log
    recovered = [line for line in recorded_segments(recording.data_dir) if line.get("recovered")]
    assert len(recovered) == 1
    # ffmpeg died 1.5 s into the segment; what it had received by then is kept and protected by the chain.
    assert int(str(recovered[0]["size"])) > 0
    assert (segments_dir(recording.data_dir) / str(recovered[0]["name"])).exists()


@pytest.mark.fault  # recording faults (issue 9.7); runs in the device phase
def test_a_recorder_killed_mid_segment_loses_at_most_that_segment(recording: Recording, tmp_path: Path) -> None:
    data_dir = copy_recording(recording.data_dir, tmp_path / "volume")
    listed = {str(line["name"]) for line in recorded_segments(data_dir)}
    unlisted = [name for name in segment_files(data_dir) if name not in listed]
    assert len(unlisted) <= 1  # only the segment being written when the recorder died
    assert all((segments_dir(data_dir) / name).stat().st_size > 0 for name in unlisted)  # ... and its bytes are there
    verified = run_verify(data_dir)
    assert verified.returncode == 0, verified.stdout

    # Back up again: the partial segment is adopted into the chain rather than lost or deleted.
    with cleaned_up() as started:
        restarted = RecorderProcess(data_dir, "rtsp://127.0.0.1:9/unreachable", PASSWORD, tmp_path / "restart.log")
        started.append(restarted)
        wait_for(lambda: "ffmpeg started" in restarted.log(), 30, "the restarted recorder to start ffmpeg")
        assert restarted.terminate() == 0
    assert {str(line["name"]) for line in recorded_segments(data_dir)} >= listed | set(unlisted)
    verified = run_verify(data_dir)
    assert verified.returncode == 0, verified.stdout
    assert "not in the manifest" not in verified.stdout


def test_one_changed_byte_is_detected_and_named(recording: Recording, tmp_path: Path) -> None:
    data_dir = copy_recording(recording.data_dir, tmp_path / "volume")
    victim = segments_dir(data_dir) / str(complete(data_dir)[2]["name"])
    content = bytearray(victim.read_bytes())
    content[len(content) // 2] ^= 0xFF
    victim.write_bytes(bytes(content))

    verified = run_verify(data_dir)
    assert verified.returncode == 1
    assert f"chain broken at {victim.name}: content changed" in verified.stdout


def test_pruning_under_an_injected_clock_deletes_exactly_the_expired_segments(
    recording: Recording, tmp_path: Path
) -> None:
    data_dir = copy_recording(recording.data_dir, tmp_path / "volume")
    segments = recorded_segments(data_dir)
    ends = {str(line["name"]): from_timestamp(str(line["end"])) for line in segments}
    retention = 30 * SECONDS_PER_DAY
    # Thirty days and one second after the third complete segment ended.
    now = ends[str(complete(data_dir)[2]["name"])] + retention + 1.0
    expected = sorted(name for name, end in ends.items() if end < now - retention)
    assert 3 <= len(expected) < len(ends)

    config = RecorderConfig(stream_url="rtsp://unused/", username=None, password=None, data_dir=data_dir)
    recorder = Recorder(config, ManualClock(now))
    recorder.open_volume()
    try:
        assert sorted(recorder.prune()) == expected
        assert recorder.prune() == []
    finally:
        recorder.close_volume()
    on_disk = set(segment_files(data_dir))
    assert not on_disk & set(expected)
    assert set(ends) - set(expected) <= on_disk
    # As of the injected time (the verify command would call these prunes future-dated, i.e. forged).
    verdict = verify(data_dir, now=now)
    assert verdict.intact, verdict.first_break
    assert verdict.pruned == len(expected)


def test_the_password_never_appears_in_the_log(recording: Recording) -> None:
    assert PASSWORD not in recording.log
    assert "Pa55%3Aw%2Frd" not in recording.log
    # ffmpeg got the authenticated URL through a pipe (never argv); it names only the pipe it read.
    assert "Input #0, concat, from 'pipe:" in recording.log
    assert PASSWORD not in (recording.data_dir / "manifest.jsonl").read_text()
