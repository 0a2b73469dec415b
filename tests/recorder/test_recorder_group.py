"""A recorder group: one real `camfleet recorder` process, several cameras, real ffmpeg on the simulator's RTSP.

The group (CAMFLEET_GROUP_CAMERAS) has five members on one volume (and lobby-1's ffmpeg is SIGKILLed once):
- `lobby-1` and `dock-3` record real streams;
- `gate-2` points at a stream the RTSP server does not have (404): its ffmpeg keeps failing and restarting;
- `old-4` left the group (`retain`): its directory holds segments that ended 31 days ago and 29 days ago, with a
  30-day retention;
- `held-5` left the group too, on legal hold, with segments that ended 400 days ago;
- `auth-6` points at a server that answers every request `401` with a `Basic` challenge.

What a user sees: the two good cameras record verifiable chains, each in its own directory, while the third fails
next to them; the failing one is reported per camera (`/chain/gate-2`, metrics) while the pod stays Ready; the
retained camera loses exactly its expired segments, the held one nothing; no password shows in the log or argv,
and each camera's ffmpeg offers only that camera's credentials.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from prometheus_client.parser import text_string_to_metric_families

from camfleet.recorder_pod.manifest import Manifest
from camfleet.recorder_pod.retention import SECONDS_PER_DAY
from camfleet.recorder_pod.storage import file_digest, segment_files, segments_dir
from tests.recorder.conftest import (
    FFMPEG,
    GroupRecorderProcess,
    child_pids,
    manifest_lines,
    recorded_segments,
    run_verify,
    wait_for,
)
from tests.recorder.rtsp_responder import RtspResponder

PASSWORDS = {
    "lobby-1": "group-Pa55:lobby/1@rec",
    "gate-2": "group-Pa55:gate/2@rec",
    "dock-3": "group-Pa55:dock/3@rec",
    "old-4": "group-Pa55:old/4@rec",
    "held-5": "group-Pa55:held/5@rec",
    "auth-6": "group-Pa55:auth/6@rec",
}
RECORDING = ("lobby-1", "dock-3")
FAILING = "gate-2"
CHALLENGED = "auth-6"  # its "camera" answers 401 with a Basic challenge: ffmpeg sends its credentials, in base64
COMPLETE_SEGMENTS = 3


@dataclass(frozen=True)
class OldRecording:
    expired: list[str]
    kept: list[str]


def old_recording(data_dir: Path, ended_days_ago: list[float]) -> list[str]:
    """A camera directory in today's layout whose segments ended that many days ago (written when they ended)."""
    segments_dir(data_dir).mkdir(parents=True)
    manifest = Manifest.open(data_dir)
    names = []
    now = time.time()
    for number, days in enumerate(ended_days_ago, start=1):
        path = segments_dir(data_dir) / f"seg-{number:09d}.ts"
        path.write_bytes(bytes([number]) * 4000)
        size, sha256 = file_digest(path)
        end = now - days * SECONDS_PER_DAY
        manifest.record_segment(path.name, size, sha256, start=end - 60, end=end, recovered=False, written=end)
        names.append(path.name)
    return names


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return ""


class GroupProcess(GroupRecorderProcess):
    def __init__(self, root: Path, members: list[dict[str, str]], log_path: Path) -> None:
        environ = {"CAMFLEET_GROUP_CAMERAS": ",".join(member["camera"] for member in members)}
        for index, member in enumerate(members):
            for key, value in member.items():
                if key != "camera":
                    environ[f"CAMFLEET_CAMERA_{index}_{key}"] = value
        super().__init__(root, environ, log_path)

    def chain(self, camera: str) -> dict[str, Any]:
        status, body = self.get(f"/chain/{camera}")
        return json.loads(body) if status == 200 else {"status": status}

    def metrics(self) -> dict[tuple[str, str], float]:
        status, text = self.get("/metrics")
        if status != 200:
            return {}
        return {
            (sample.name, sample.labels.get("camera", "")): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def ffmpeg_of(self, camera: str) -> int | None:
        """The pid of the ffmpeg recording `camera` (its output path names the camera's directory)."""
        for pid in child_pids(self.process.pid):
            if f"{self.root / camera}/segments/" in cmdline(pid):
                return pid
        return None

    def argv_of_children(self) -> list[str]:
        return [cmdline(pid) for pid in child_pids(self.process.pid)]


@dataclass(frozen=True)
class GroupRun:
    root: Path
    log: str
    metrics: dict[tuple[str, str], float]
    health: tuple[int, str]
    chains: dict[str, dict[str, Any]]
    unknown_chain: tuple[int, str]
    plain_chain: tuple[int, str]
    argv: list[str]
    old: OldRecording
    held: list[str]
    exit_code: int
    killed: KilledFfmpeg
    challenge_answers: list[str]  # the Authorization headers the 401 server received


@dataclass(frozen=True)
class KilledFfmpeg:
    """lobby-1's ffmpeg SIGKILLed mid-segment while dock-3 records next to it."""

    lobby_before: int
    lobby_after: int
    dock_before: int
    dock_after: int
    dock_segments_while: int


def kill_one_ffmpeg(group: GroupProcess) -> KilledFfmpeg:
    lobby = wait_for(lambda: group.ffmpeg_of("lobby-1"), 10, "lobby-1's ffmpeg")
    dock = wait_for(lambda: group.ffmpeg_of("dock-3"), 10, "dock-3's ffmpeg")
    dock_segments = len(complete(group.root / "dock-3"))
    time.sleep(1.5)  # into a segment
    os.kill(lobby, signal.SIGKILL)
    wait_for(lambda: group.metrics().get(("camfleet_recorder_ffmpeg_restarts_total", "lobby-1")), 30, "lobby restart")
    lobby_after = wait_for(lambda: group.ffmpeg_of("lobby-1"), 10, "lobby-1's new ffmpeg")
    # Recording goes on for both: each finishes another complete segment after the kill.
    lobby_segments = len(complete(group.root / "lobby-1"))
    wait_for(lambda: len(complete(group.root / "lobby-1")) > lobby_segments, 30, "lobby-1 recording again")
    wait_for(lambda: len(complete(group.root / "dock-3")) >= dock_segments + 2, 30, "dock-3 recording on")
    return KilledFfmpeg(
        lobby_before=lobby,
        lobby_after=lobby_after,
        dock_before=dock,
        dock_after=group.ffmpeg_of("dock-3") or 0,
        dock_segments_while=len(complete(group.root / "dock-3")) - dock_segments,
    )


def complete(data_dir: Path) -> list[dict[str, Any]]:
    return [line for line in recorded_segments(data_dir) if not line.get("recovered")]


@pytest.fixture(scope="module")
def group_run(rtsp_port: int, tmp_path_factory: pytest.TempPathFactory) -> GroupRun:
    base = tmp_path_factory.mktemp("group")
    root = base / "volume"
    old_names = old_recording(root / "old-4", [31, 31, 29, 29])
    held_names = old_recording(root / "held-5", [400, 400])
    url = f"rtsp://127.0.0.1:{rtsp_port}"
    members = [
        {"camera": "lobby-1", "STREAM_URL": f"{url}/cam/lobby-1/main", "RETENTION_DAYS": "30"},
        {"camera": FAILING, "STREAM_URL": f"{url}/missing/gate-2", "RETENTION_DAYS": "45"},
        {"camera": "dock-3", "STREAM_URL": f"{url}/cam/dock-3/main", "RETENTION_DAYS": "30"},
        {"camera": "old-4", "MODE": "retain", "RETENTION_DAYS": "30"},
        {"camera": "held-5", "MODE": "retain", "RETENTION_DAYS": "30", "LEGAL_HOLD": "true"},
        {"camera": CHALLENGED, "RETENTION_DAYS": "30"},  # its URL once the 401 server listens
    ]
    for member in members:
        member |= {"STREAM_USERNAME": "viewer", "STREAM_PASSWORD": PASSWORDS[member["camera"]], "HOST": "127.0.0.1"}
    with RtspResponder("basic").running() as challenger:
        members[-1]["STREAM_URL"] = f"rtsp://127.0.0.1:{challenger.port}/cam/main"
        run = record_group(root, members, base / "recorder.log")
        answers = [request.get("authorization", "") for request in challenger.requests]
    return GroupRun(
        **run,
        old=OldRecording(expired=old_names[:2], kept=old_names[2:]),
        held=held_names,
        challenge_answers=[answer for answer in answers if answer],
    )


def record_group(root: Path, members: list[dict[str, str]], log_path: Path) -> dict[str, Any]:
    group = GroupProcess(root, members, log_path)
    try:
        wait_for(
            lambda: all(len(complete(root / camera)) >= COMPLETE_SEGMENTS for camera in RECORDING),
            90,
            "segments of every recording camera",
        )
        wait_for(lambda: group.metrics().get(("camfleet_recorder_ffmpeg_restarts_total", FAILING)), 60, "a restart")
        wait_for(lambda: len(segment_files(root / "old-4")) == 2, 30, "old-4's expired segments pruned")
        killed = kill_one_ffmpeg(group)
        argv = [*group.argv_of_children(), cmdline(group.process.pid)]
        metrics = group.metrics()
        health = group.get("/healthz")
        chains = {camera: group.chain(camera) for camera in PASSWORDS}
        unknown_chain = group.get("/chain/not-in-group")
        plain_chain = group.get("/chain")
    finally:
        group.stop()
    return {
        "root": root,
        "log": group.log(),
        "metrics": metrics,
        "health": health,
        "chains": chains,
        "unknown_chain": unknown_chain,
        "plain_chain": plain_chain,
        "argv": argv,
        "exit_code": group.process.returncode,
        "killed": killed,
    }


def test_each_recording_camera_has_its_own_verifiable_chain(group_run: GroupRun) -> None:
    for camera in RECORDING:
        directory = group_run.root / camera
        segments = complete(directory)
        assert len(segments) >= COMPLETE_SEGMENTS, camera
        assert set(segment_files(directory)) >= {str(segment["name"]) for segment in segments}
        verified = run_verify(directory)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "chain intact" in verified.stdout
        assert f"camfleet.recorder.{camera}: segment seg-" in group_run.log
    # The failing camera wrote no footage, and nobody wrote into anyone else's directory.
    assert complete(group_run.root / FAILING) == []
    assert complete(group_run.root / CHALLENGED) == []
    assert sorted(path.name for path in group_run.root.iterdir()) == sorted(PASSWORDS)
    assert group_run.exit_code == 0


def test_the_failing_camera_is_reported_per_camera_and_the_pod_stays_ready(group_run: GroupRun) -> None:
    status, body = group_run.health
    assert status == 200, body
    assert "recording 2 of 4 cameras" in body
    assert f"not recording: {CHALLENGED}, {FAILING}" in body
    chains = group_run.chains
    assert [chains[camera]["recording"] for camera in RECORDING] == [True, True]
    assert chains[FAILING]["recording"] is False
    assert chains[FAILING]["retentionDays"] == 45
    for camera in RECORDING:
        assert chains[camera]["seq"] >= COMPLETE_SEGMENTS
        assert chains[camera]["retentionDays"] == 30
    metrics = group_run.metrics
    assert metrics[("camfleet_recorder_segments", FAILING)] == 0
    assert metrics[("camfleet_recorder_ffmpeg_restarts_total", FAILING)] >= 1
    assert metrics[("camfleet_recorder_retention_seconds", FAILING)] == 45 * SECONDS_PER_DAY
    for camera in RECORDING:
        assert metrics[("camfleet_recorder_recording", camera)] == 1
        assert metrics[("camfleet_recorder_segments", camera)] >= COMPLETE_SEGMENTS
        assert metrics[("camfleet_recorder_bytes_written_total", camera)] > 0
    assert "restarting in" in group_run.log


def test_chain_endpoints_per_camera(group_run: GroupRun) -> None:
    assert group_run.unknown_chain[0] == 404
    assert group_run.plain_chain[0] == 404  # a group has no single chain; each camera's is /chain/<camera>
    assert group_run.chains["old-4"]["recording"] is False
    assert group_run.chains["held-5"]["legalHold"] is True


def test_a_retained_camera_loses_only_its_expired_segments_and_a_held_one_nothing(group_run: GroupRun) -> None:
    old = group_run.root / "old-4"
    assert segment_files(old) == group_run.old.kept
    pruned = [line["name"] for line in manifest_lines(old) if line["kind"] == "prune"]
    assert sorted(pruned) == group_run.old.expired
    assert run_verify(old).returncode == 0
    assert segment_files(group_run.root / "held-5") == group_run.held
    assert group_run.metrics[("camfleet_recorder_legal_hold", "held-5")] == 1
    assert group_run.metrics[("camfleet_recorder_recording", "old-4")] == 0


def test_a_killed_ffmpeg_is_restarted_for_its_camera_alone(group_run: GroupRun) -> None:
    killed = group_run.killed
    assert killed.lobby_after != killed.lobby_before
    assert killed.dock_after == killed.dock_before  # dock-3's ffmpeg was never touched
    assert killed.dock_segments_while >= 2  # and it kept recording through lobby-1's restart
    assert group_run.metrics[("camfleet_recorder_ffmpeg_restarts_total", "dock-3")] == 0
    # lobby-1 kept what its killed ffmpeg had written, and its chain still verifies (first test).
    assert [line for line in recorded_segments(group_run.root / "lobby-1") if line.get("recovered")]


def test_no_password_in_the_log_or_any_argv(group_run: GroupRun) -> None:
    assert any(line.startswith(FFMPEG) for line in group_run.argv)
    for camera, password in PASSWORDS.items():
        basic = base64.b64encode(f"viewer:{password}".encode()).decode()
        for form in {password, quote(password, safe=""), quote(password), basic}:
            assert form not in group_run.log, camera
            assert all(form not in line for line in group_run.argv), camera


def test_each_camera_offers_only_its_own_credentials(group_run: GroupRun) -> None:
    """The 401 camera's ffmpeg answered its challenge with auth-6's credentials, never another member's."""
    own = "Basic " + base64.b64encode(f"viewer:{PASSWORDS[CHALLENGED]}".encode()).decode()
    assert group_run.challenge_answers
    assert set(group_run.challenge_answers) == {own}
