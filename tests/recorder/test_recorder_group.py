"""A recorder group: one real `camfleet recorder` process, several cameras, real ffmpeg on the simulator's RTSP.

The group's members are in a directory standing for its mounted members Secret (CAMFLEET_GROUP_CONFIG_DIR:
members.json and each camera's credentials, written as the kubelet writes a Secret volume). Six members on one
volume (and lobby-1's ffmpeg is SIGKILLed once):
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

Then, live (a second group): the members directory is swapped to add a camera and turn one to `retain`; the new
camera records, the retained one stops but keeps its files, and the one that did not change keeps its very ffmpeg
and an unbroken chain.
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
    SEGMENT_SECONDS,
    GroupRecorderProcess,
    child_pids,
    manifest_lines,
    members_files,
    recorded_segments,
    run_verify,
    wait_for,
    write_secret_mount,
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
LIVE_PASSWORDS = {"lane-a": "live-Pa55:lane/a@rec", "lane-b": "live-Pa55:lane/b@rec", "lane-c": "live-Pa55:lane/c@rec"}
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
    """The group recorder over `root`, its members in `mount` (rewritten with `set_members` while it runs)."""

    def __init__(self, root: Path, members: list[dict[str, Any]], log_path: Path) -> None:
        self.mount = root.parent / f"{root.name}-members"
        self.set_members(members)
        super().__init__(root, {"CAMFLEET_GROUP_CONFIG_DIR": str(self.mount)}, log_path)

    def set_members(self, members: list[dict[str, Any]]) -> None:
        """As the operator writes the members Secret and the kubelet swaps the mounted files."""
        passwords = PASSWORDS | LIVE_PASSWORDS
        credentials = {m["camera"]: ("viewer", passwords[m["camera"]]) for m in members if m["mode"] == "record"}
        write_secret_mount(self.mount, members_files(members, credentials))

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
    all_chains: tuple[int, str]
    bad_chains: tuple[int, str]
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


def recording(camera: str, url: str, retention_days: int = 30) -> dict[str, Any]:
    """A member entry of members.json as the operator writes it for a camera to record."""
    return {"camera": camera, "mode": "record", "streamUrl": url, "host": "127.0.0.1", "retentionDays": retention_days,
            "legalHold": False}  # fmt: skip


def retained(camera: str, retention_days: int = 30, hold: bool = False) -> dict[str, Any]:
    return {"camera": camera, "mode": "retain", "streamUrl": "", "host": "", "retentionDays": retention_days,
            "legalHold": hold, "retainUntil": "2099-01-01T00:00:00Z"}  # fmt: skip


@pytest.fixture(scope="module")
def group_run(rtsp_port: int, tmp_path_factory: pytest.TempPathFactory) -> GroupRun:
    base = tmp_path_factory.mktemp("group")
    root = base / "volume"
    old_names = old_recording(root / "old-4", [31, 31, 29, 29])
    held_names = old_recording(root / "held-5", [400, 400])
    url = f"rtsp://127.0.0.1:{rtsp_port}"
    with RtspResponder("basic").running() as challenger:
        members = [
            recording("lobby-1", f"{url}/cam/lobby-1/main"),
            recording(FAILING, f"{url}/missing/gate-2", retention_days=45),
            recording("dock-3", f"{url}/cam/dock-3/main"),
            retained("old-4"),
            retained("held-5", hold=True),
            recording(CHALLENGED, f"rtsp://127.0.0.1:{challenger.port}/cam/main"),
        ]
        run = record_group(root, members, base / "recorder.log")
        answers = [request.get("authorization", "") for request in challenger.requests]
    return GroupRun(
        **run,
        old=OldRecording(expired=old_names[:2], kept=old_names[2:]),
        held=held_names,
        challenge_answers=[answer for answer in answers if answer],
    )


def record_group(root: Path, members: list[dict[str, Any]], log_path: Path) -> dict[str, Any]:
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
        asked = "&".join(f"at={camera}:1" for camera in RECORDING)
        all_chains = group.get(f"/chains?{asked}&at=not-in-group:1")
        bad_chains = group.get("/chains?at=lobby")
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
        "all_chains": all_chains,
        "bad_chains": bad_chains,
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


def test_one_request_answers_every_cameras_chain(group_run: GroupRun) -> None:
    """`/chains`: what the operator polls once a minute per group, each camera's head as `/chain/<camera>` says it."""
    status, body = group_run.all_chains
    assert status == 200, body
    served = json.loads(body)["cameras"]
    assert sorted(served) == sorted(PASSWORDS)  # every member with a directory; not the unknown camera asked for
    for camera in RECORDING:
        assert served[camera]["recording"] is True
        assert served[camera]["seq"] >= COMPLETE_SEGMENTS
        assert served[camera]["at"]["seq"] == 1
        assert len(served[camera]["at"]["head"]) == 64  # line 1's hash, for the operator to compare with its own
    assert "at" not in served[FAILING]
    assert served[FAILING]["recording"] is False
    assert served["held-5"]["legalHold"] is True
    status, body = group_run.bad_chains
    assert status == 400
    assert "not <camera>:<line number>" in body


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


# -- live membership ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveChange:
    root: Path
    log: str
    argv: list[str]
    a_pid_before: int
    a_pid_after: int
    a_segments_before: int
    b_kept: list[str]  # b's segment files when it had stopped
    b_files_later: list[str]  # and two segment lengths later
    b_chain: dict[str, Any]
    c_chain: dict[str, Any]
    b_ffmpeg_after: int | None


@pytest.fixture(scope="module")
def live_change(rtsp_port: int, tmp_path_factory: pytest.TempPathFactory) -> LiveChange:
    """lane-a and lane-b record; then the members Secret is swapped (as the kubelet does) to add lane-c and turn
    lane-b to `retain`, with lane-a's entry unchanged."""
    root = tmp_path_factory.mktemp("live") / "volume"
    url = f"rtsp://127.0.0.1:{rtsp_port}/cam"
    group = GroupProcess(root, [recording("lane-a", f"{url}/lane-a/main"), recording("lane-b", f"{url}/lane-b/main")],
                         root.parent / "recorder.log")  # fmt: skip
    try:
        wait_for(lambda: all(len(complete(root / c)) >= 2 for c in ("lane-a", "lane-b")), 90, "lane-a and lane-b")
        a_before = wait_for(lambda: group.ffmpeg_of("lane-a"), 10, "lane-a's ffmpeg")
        a_segments = len(complete(root / "lane-a"))
        group.set_members([
            recording("lane-a", f"{url}/lane-a/main"),
            retained("lane-b"),
            recording("lane-c", f"{url}/lane-c/main"),
        ])  # fmt: skip
        wait_for(lambda: len(complete(root / "lane-c")) >= 2, 90, "lane-c recording")
        wait_for(lambda: group.ffmpeg_of("lane-b") is None, 30, "lane-b's ffmpeg stopped")
        b_kept = segment_files(root / "lane-b")
        wait_for(lambda: len(complete(root / "lane-a")) >= a_segments + 4, 60, "lane-a recording on")
        time.sleep(2 * SEGMENT_SECONDS)
        argv = [*group.argv_of_children(), cmdline(group.process.pid)]
        a_after = group.ffmpeg_of("lane-a") or 0
        change = LiveChange(
            root=root, log="", argv=argv, a_pid_before=a_before, a_pid_after=a_after, a_segments_before=a_segments,
            b_kept=b_kept, b_files_later=segment_files(root / "lane-b"), b_chain=group.chain("lane-b"),
            c_chain=group.chain("lane-c"), b_ffmpeg_after=group.ffmpeg_of("lane-b"),
        )  # fmt: skip
    finally:
        group.stop()
    return LiveChange(**{**change.__dict__, "log": group.log()})


def test_a_new_member_records_without_restarting_the_others(live_change: LiveChange) -> None:
    root = live_change.root
    assert len(complete(root / "lane-c")) >= 2
    assert live_change.c_chain["recording"] is True
    verified = run_verify(root / "lane-c")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # lane-a: the same ffmpeg before and after the change, and its chain has no gap (no segment recovered after a
    # crash, consecutive segment numbers, every one sealed as it was written).
    assert live_change.a_pid_after == live_change.a_pid_before
    segments = recorded_segments(root / "lane-a")
    assert not [line for line in segments if line.get("recovered")]
    numbers = [int(str(line["name"]).removeprefix("seg-").removesuffix(".ts")) for line in segments]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert len(segments) >= live_change.a_segments_before + 4
    assert run_verify(root / "lane-a").returncode == 0
    assert "members changed: started lane-c; restarted lane-b" in live_change.log


def test_a_member_turned_retain_stops_recording_and_keeps_its_files(live_change: LiveChange) -> None:
    root = live_change.root
    assert live_change.b_ffmpeg_after is None
    assert live_change.b_chain["recording"] is False
    assert len(live_change.b_kept) >= 2
    assert live_change.b_files_later == live_change.b_kept  # nothing written, nothing deleted
    assert set(live_change.b_kept) == {str(line["name"]) for line in recorded_segments(root / "lane-b")}
    assert run_verify(root / "lane-b").returncode == 0


def test_no_live_members_password_in_the_log_or_any_argv(live_change: LiveChange) -> None:
    assert any(line.startswith(FFMPEG) for line in live_change.argv)
    for camera, password in LIVE_PASSWORDS.items():
        for form in {password, quote(password, safe=""), quote(password)}:
            assert form not in live_change.log, camera
            assert all(form not in line for line in live_change.argv), camera
