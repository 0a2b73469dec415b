"""A group recorder's steps on a real volume with the clock under the test's control (no ffmpeg): each camera
prunes only its own directory by its own retention, a retained camera only after retention and never under a
legal hold, capacity is judged against what the other cameras still need, and the HTTP endpoint answers per
camera."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from camfleet.recorder_pod import http
from camfleet.recorder_pod.clock import ManualClock
from camfleet.recorder_pod.config import MODE_RECORD, MODE_RETAIN, GroupConfig, GroupMember, RecorderConfig
from camfleet.recorder_pod.group import GroupRecorder
from camfleet.recorder_pod.manifest import Manifest
from camfleet.recorder_pod.retention import SECONDS_PER_DAY
from camfleet.recorder_pod.storage import VolumeLocked, file_digest, segment_files, segments_dir
from camfleet.recorder_pod.verify import verify

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
