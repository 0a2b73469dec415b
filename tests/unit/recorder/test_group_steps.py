"""A group recorder's steps on a real volume with the clock under the test's control (no ffmpeg): each camera
prunes only its own directory by its own retention, a retained camera only after retention and never under a
legal hold, capacity is judged against what the other cameras still need, and the HTTP endpoint answers per
camera."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from camfleet.recorder_pod import group as group_module
from camfleet.recorder_pod import http
from camfleet.recorder_pod.clock import ManualClock
from camfleet.recorder_pod.config import MODE_RECORD, MODE_RETAIN, GroupConfig, GroupMember, RecorderConfig
from camfleet.recorder_pod.group import GroupRecorder, MembershipChanges, membership_changes
from camfleet.recorder_pod.manifest import Manifest
from camfleet.recorder_pod.retention import SECONDS_PER_DAY
from camfleet.recorder_pod.storage import VolumeLocked, file_digest, segment_files, segments_dir
from camfleet.recorder_pod.verify import verify
from tests.recorder.conftest import manifest_lines, members_files, write_secret_mount

T0 = 1_767_225_600.0
DAY = SECONDS_PER_DAY


def recorded(data_dir: Path, ends: list[float], seconds_each: float = 60.0, size: int = 4000) -> None:
    segments_dir(data_dir).mkdir(parents=True)
    manifest = Manifest.open(data_dir)
    for number, end in enumerate(ends, start=1):
        path = segments_dir(data_dir) / f"seg-{number:09d}.ts"
        path.write_bytes(bytes([number]) * size)
        digest_size, sha256 = file_digest(path)
        manifest.record_segment(path.name, digest_size, sha256, start=end - seconds_each, end=end, recovered=False)


def member(
    root: Path, camera: str, mode: str = MODE_RECORD, retention_days: float = 30, hold: bool = False
) -> GroupMember:
    config = RecorderConfig(
        stream_url="rtsp://127.0.0.1:9/none" if mode == MODE_RECORD else "",
        username=None,
        password=None,
        data_dir=root / camera,
        retention_days=retention_days,
        legal_hold=hold,
    )
    return GroupMember(camera, mode, config)


@contextlib.contextmanager
def opened(group: GroupRecorder) -> Iterator[GroupRecorder]:
    group.open_volumes()
    try:
        yield group
    finally:
        group.close_volumes()


def test_each_camera_prunes_only_its_own_directory_by_its_own_retention(tmp_path: Path) -> None:
    for camera in ("lobby-1", "gate-2"):
        recorded(tmp_path / camera, [T0, T0 + DAY])
    clock = ManualClock(T0 + 30 * DAY + 1)  # lobby-1's first segment is past its 30 days; gate-2 keeps 60
    group = GroupRecorder(
        GroupConfig(tmp_path, (member(tmp_path, "lobby-1"), member(tmp_path, "gate-2", retention_days=60))), clock
    )
    with opened(group):
        assert group.prune() == {"gate-2": [], "lobby-1": ["seg-000000001.ts"]}
    assert segment_files(tmp_path / "lobby-1") == ["seg-000000002.ts"]
    assert segment_files(tmp_path / "gate-2") == ["seg-000000001.ts", "seg-000000002.ts"]
    for camera in ("lobby-1", "gate-2"):
        assert verify(tmp_path / camera, now=clock.now()).intact


def test_a_retained_camera_is_pruned_only_after_its_retention_and_never_on_hold(tmp_path: Path) -> None:
    recorded(tmp_path / "old-4", [T0, T0 + DAY])
    recorded(tmp_path / "held-5", [T0, T0 + DAY])
    clock = ManualClock(T0 + 30 * DAY)
    members = (
        member(tmp_path, "old-4", MODE_RETAIN),
        member(tmp_path, "held-5", MODE_RETAIN, hold=True),
        member(tmp_path, "never-6", MODE_RETAIN),  # left before it recorded anything: no directory is made
    )
    group = GroupRecorder(GroupConfig(tmp_path, members), clock)
    with opened(group):
        assert group.prune() == {"held-5": [], "old-4": []}  # exactly at the end of retention: still kept
        clock.advance(1)
        assert group.prune() == {"held-5": [], "old-4": ["seg-000000001.ts"]}
        clock.set(T0 + 3650 * DAY)
        assert group.prune() == {"held-5": [], "old-4": ["seg-000000002.ts"]}
        assert group.chain_head("never-6") is None
    assert segment_files(tmp_path / "held-5") == ["seg-000000001.ts", "seg-000000002.ts"]
    assert not (tmp_path / "never-6").exists()
    assert verify(tmp_path / "old-4", now=clock.now()).intact


def test_a_camera_alarms_when_its_need_plus_the_others_does_not_fit(tmp_path: Path) -> None:
    recorded(tmp_path / "lobby-1", [T0 - 60, T0])  # 4000 bytes a minute: a few MB for 30 days
    recorded(tmp_path / "dock-3", [T0 - 60, T0], seconds_each=0.001)  # 4 MB/s: more than any test disk for 30 days
    recorded(tmp_path / "old-4", [T0 - 60, T0], seconds_each=0.001)  # as fast once, but it records no more
    clock = ManualClock(T0)

    alone = GroupRecorder(
        GroupConfig(tmp_path, (member(tmp_path, "lobby-1"), member(tmp_path, "old-4", MODE_RETAIN))), clock
    )
    with opened(alone):
        assert not alone.recorders["lobby-1"].refresh_capacity().alarm
        assert not alone.recorders["old-4"].refresh_capacity().alarm
        assert alone.recorders["lobby-1"].reserved_for_others() == 0

    shared = GroupRecorder(GroupConfig(tmp_path, (member(tmp_path, "lobby-1"), member(tmp_path, "dock-3"))), clock)
    with opened(shared):
        lobby = shared.recorders["lobby-1"]
        assert lobby.reserved_for_others() == shared.recorders["dock-3"].outstanding_bytes() > 0
        capacity = lobby.refresh_capacity()
        assert capacity.alarm
        assert not capacity.full  # the volume is not full: the alarm says the retention will not fit
        assert lobby.metrics.registry.get_sample_value("camfleet_recorder_capacity_alarm", {"camera": "lobby-1"}) == 1


@contextlib.asynccontextmanager
async def serving(group: GroupRecorder) -> AsyncIterator[str]:
    runner = web.AppRunner(http.make_app(group.families, group.readiness, member_chain=group.chain_head))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_http_answers_per_camera(tmp_path: Path) -> None:
    recorded(tmp_path / "lobby-1", [T0, T0 + 60])
    recorded(tmp_path / "old-4", [T0])
    members = (member(tmp_path, "lobby-1"), member(tmp_path, "old-4", MODE_RETAIN, retention_days=40))
    group = GroupRecorder(GroupConfig(tmp_path, members), ManualClock(T0 + 120))
    with opened(group):
        group.recorders["lobby-1"].refresh_capacity()
        async with serving(group) as base, aiohttp.ClientSession() as session:
            async with session.get(f"{base}/chain/lobby-1?seq=1") as response:
                lobby = await response.json()
            async with session.get(f"{base}/chain/old-4") as response:
                old = await response.json()
            async with session.get(f"{base}/chain/not-here") as missing, session.get(f"{base}/chain") as plain:
                assert (missing.status, plain.status) == (404, 404)
            async with session.get(f"{base}/healthz") as health:
                assert health.status == 503  # the only record member is not recording
                assert "none of 1 cameras records" in await health.text()
            async with session.get(f"{base}/metrics") as metrics:
                text = await metrics.text()
    assert lobby["seq"] == group.recorders["lobby-1"].manifest.head_line().seq
    assert lobby["at"]["seq"] == 1
    assert (lobby["recording"], lobby["retentionDays"]) == (False, 30)
    assert (old["recording"], old["retentionDays"]) == (False, 40)
    assert 'camfleet_recorder_segments{camera="lobby-1"} 2.0' in text
    assert 'camfleet_recorder_retention_seconds{camera="old-4"} 3.456e+06' in text


def test_a_group_of_retained_cameras_only_is_ready(tmp_path: Path) -> None:
    recorded(tmp_path / "old-4", [T0])
    group = GroupRecorder(GroupConfig(tmp_path, (member(tmp_path, "old-4", MODE_RETAIN),)), ManualClock(T0))
    with opened(group):
        ok, reason = group.readiness()
    assert ok, reason


async def test_a_camera_that_cannot_open_its_directory_does_not_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorded(tmp_path / "old-4", [T0])
    (tmp_path / "gate-2").write_text("a file where the camera's directory should be")
    clock = ManualClock(T0 + 30 * DAY + 1)
    members = (member(tmp_path, "gate-2"), member(tmp_path, "old-4", MODE_RETAIN))
    group = GroupRecorder(GroupConfig(tmp_path, members, metrics_host="127.0.0.1", metrics_port=0), clock)
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO):
        running = asyncio.create_task(group.run(stop))
        for _ in range(100):
            if not segment_files(tmp_path / "old-4"):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(running, 30)
    assert segment_files(tmp_path / "old-4") == []  # old-4's housekeeping ran and pruned its expired segment
    failed = [record for record in caplog.records if record.name == "camfleet.recorder.gate-2"]
    assert any("cannot open" in record.getMessage() or "failed" in record.getMessage() for record in failed)


def test_a_second_group_recorder_on_the_same_volume_is_refused(tmp_path: Path) -> None:
    """Two writers would fork a camera's chain: the second pod's recorder stops instead (exit code 3)."""
    members = (member(tmp_path, "lobby-1"), member(tmp_path, "gate-2"))
    first = GroupRecorder(GroupConfig(tmp_path, members), ManualClock(T0))
    second = GroupRecorder(GroupConfig(tmp_path, members), ManualClock(T0))
    with opened(first), pytest.raises(VolumeLocked):
        second.open_volumes()


# -- live membership (no ffmpeg: the recording members' side is the real-ffmpeg test's) ----------------------------


def test_a_membership_change_names_only_the_cameras_it_changes(tmp_path: Path) -> None:
    old = {m.camera: m for m in (member(tmp_path, "a"), member(tmp_path, "b"), member(tmp_path, "c"),
                                 member(tmp_path, "d"))}  # fmt: skip
    moved = dataclasses.replace(old["c"].config, stream_url="rtsp://127.0.0.1:9/moved")
    new = {
        "a": old["a"],  # unchanged: left exactly as it runs
        "b": member(tmp_path, "b", MODE_RETAIN),  # left the group: its ffmpeg stops
        "c": dataclasses.replace(old["c"], config=moved),  # another stream: its own ffmpeg restarts
        "d": member(tmp_path, "d", retention_days=40, hold=True),  # a new policy: enforced, ffmpeg runs on
        "e": member(tmp_path, "e"),
    }
    assert membership_changes(old, new) == MembershipChanges(start=("e",), restart=("b", "c"), enforce=("d",), stop=())
    rotated = dataclasses.replace(old["a"].config, password=SecretStr("rotated"))
    assert membership_changes(old, {**old, "a": dataclasses.replace(old["a"], config=rotated)}).restart == ("a",)
    assert membership_changes(old, {"a": old["a"]}).stop == ("b", "c", "d")
    assert not membership_changes(old, dict(old))


async def until(predicate: Callable[[], bool]) -> None:
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def retained(camera: str, retention_days: int = 30, hold: bool = False) -> dict[str, Any]:
    return {"camera": camera, "mode": "retain", "retentionDays": retention_days, "legalHold": hold}


async def test_members_change_live_and_a_bad_members_file_keeps_the_last_good_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(group_module, "MEMBERS_POLL_SECONDS", 0.05)
    now = time.time()
    root, mount = tmp_path / "volume", tmp_path / "members"
    for camera in ("old-4", "held-5", "new-6"):
        recorded(root / camera, [now - DAY, now - DAY + 60])
    held_files = segment_files(root / "held-5")
    write_secret_mount(mount, members_files([retained("old-4"), retained("held-5", hold=True)], {}))
    shared = RecorderConfig(stream_url="", username=None, password=None, data_dir=root, housekeeping_seconds=0.05)
    config = GroupConfig(root, (), metrics_host="127.0.0.1", metrics_port=0, config_dir=mount, shared=shared)
    seen: list[str] = []
    group = GroupRecorder(config, secrets_seen=seen.extend)
    stop = asyncio.Event()
    running = asyncio.create_task(group.run(stop))

    try:
        await until(lambda: sorted(group._open) == ["held-5", "old-4"])
        old = group.recorders["old-4"]
        # new-6 joins, old-4's retention grows, held-5 is no longer named (as the kubelet swaps the mount).
        members = [retained("old-4", 40), retained("new-6")]
        write_secret_mount(mount, members_files(members, {"new-6": ("viewer", "new-6-Pa55")}))
        await until(lambda: sorted(group._open) == ["new-6", "old-4"])
        assert group.recorders["old-4"] is old  # enforced in place, not restarted
        assert old.config.retention_days == 40
        assert group.chain_head("new-6") is not None
        assert group.chain_head("held-5") is None
        assert segment_files(root / "held-5") == held_files  # its directory is kept as it was
        assert "new-6-Pa55" in seen  # redacted from the log before new-6 wrote any line

        # A bad Secret version: logged (no secret in it), the members read before are kept.
        with caplog.at_level(logging.INFO):
            write_secret_mount(mount, {"members.json": '[{"camera": "old-4", "mo', "new-6.password": "new-6-Pa55"})
            await until(lambda: "not read" in caplog.text)
            await asyncio.sleep(0.2)
        assert sorted(group.members) == ["new-6", "old-4"]
        assert "members.json is not JSON" in caplog.text
        assert "new-6-Pa55" not in caplog.text
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    policy_lines = [line for line in manifest_lines(root / "old-4") if line["kind"] == "policy"]
    assert policy_lines[-1]["retentionDays"] == 40  # the new retention is recorded in old-4's chain


async def test_a_membership_change_that_fails_midway_stops_neither_the_pod_nor_the_next_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A disk error while one member's new retention is enforced must not end the group's process (every camera
    of the pod would stop recording) nor hold up another member's part of a change: it is logged, and a camera
    joining later starts as usual while the failing member's step is tried again."""
    monkeypatch.setattr(group_module, "MEMBERS_POLL_SECONDS", 0.05)
    now = time.time()
    root, mount = tmp_path / "volume", tmp_path / "members"
    for camera in ("old-4", "new-6"):
        recorded(root / camera, [now - DAY, now - DAY + 60])
    write_secret_mount(mount, members_files([retained("old-4")], {}))
    shared = RecorderConfig(stream_url="", username=None, password=None, data_dir=root, housekeeping_seconds=0.05)
    config = GroupConfig(root, (), metrics_host="127.0.0.1", metrics_port=0, config_dir=mount, shared=shared)
    group = GroupRecorder(config)

    def disk_error(*_: object) -> None:
        raise OSError(30, "Read-only file system")

    stop = asyncio.Event()
    running = asyncio.create_task(group.run(stop))

    try:
        await until(lambda: sorted(group._open) == ["old-4"])
        monkeypatch.setattr(group.recorders["old-4"], "enforce_policy", disk_error)
        with caplog.at_level(logging.INFO):
            write_secret_mount(mount, members_files([retained("old-4", 40)], {}))
            await until(lambda: "new retention or hold not enforced" in caplog.text)
        assert not running.done(), "the group's process goes on"
        write_secret_mount(mount, members_files([retained("old-4", 40), retained("new-6")], {}))
        await until(lambda: sorted(group._open) == ["new-6", "old-4"])
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
