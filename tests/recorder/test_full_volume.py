"""A full volume stops recording; nothing inside retention is deleted to make room (unlike Frigate & co.).

The volume is a real 4 MiB tmpfs mounted for the test (needs root / CAP_SYS_ADMIN). Where mounting is not
permitted the test falls back to the recorder's `--reserve-bytes` floor set just below the free space of the
shared temporary filesystem, which exercises the same decision on a volume that is "full" by configuration;
that fallback is announced in the test output and cannot show recording resume.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from camfleet.recorder_pod.storage import segment_files, volume_space
from tests.recorder.conftest import RecorderProcess, manifest_lines, recorded_segments, run_verify, wait_for

FREE_FOR_RECORDING = 1_600_000  # room for about two of the simulator's 5-second segments (~350-450 kB each)
RESERVE = 600_000


@dataclass(frozen=True)
class SmallVolume:
    path: Path
    ballast: Path | None  # a file whose removal gives space back; None when no real small filesystem exists


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[SmallVolume]:
    mountpoint = tmp_path / "volume"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        print(f"tmpfs mount not permitted ({mounted.stderr.decode().strip()}); using a --reserve-bytes floor")
        yield SmallVolume(mountpoint, None)
        return
    try:
        ballast = mountpoint / "ballast"
        free, _ = volume_space(mountpoint)
        ballast.write_bytes(b"\0" * (free - FREE_FOR_RECORDING))
        yield SmallVolume(mountpoint, ballast)
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(mountpoint)], capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.5)  # a dying process may still hold a file open
        else:
            subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.mark.fault  # recording faults (issue 9.7); runs in the device phase
def test_a_full_volume_stops_recording_and_deletes_nothing(
    small_volume: SmallVolume, rtsp_port: int, recorders: list[RecorderProcess], tmp_path: Path
) -> None:
    data_dir = small_volume.path / "recordings"
    if small_volume.ballast is not None:
        reserve = RESERVE
    else:
        free, _ = volume_space(tmp_path)
        reserve = free - FREE_FOR_RECORDING + RESERVE
    recorder = RecorderProcess(
        data_dir,
        f"rtsp://127.0.0.1:{rtsp_port}/cam/lobby-2/main",
        "unused-password",
        tmp_path / "recorder.log",
        "--reserve-bytes",
        str(reserve),
    )
    recorders.append(recorder)

    wait_for(lambda: recorder.metrics().get("camfleet_recorder_volume_full") == 1, 90, "the volume to fill")
    wait_for(lambda: recorder.metrics().get("camfleet_recorder_recording") == 0, 30, "recording to stop")
    recorded = {str(line["name"]) for line in recorded_segments(data_dir)}
    on_disk = segment_files(data_dir)
    assert len(recorded) >= 2
    assert set(on_disk) == recorded  # the segment being written was finished and recorded, none deleted

    time.sleep(3)  # a few housekeeping rounds while full
    assert segment_files(data_dir) == on_disk  # neither new footage nor deletions
    assert not [line for line in manifest_lines(data_dir) if line["kind"] == "prune"]
    metrics = recorder.metrics()
    assert metrics["camfleet_recorder_capacity_alarm"] == 1
    assert metrics["camfleet_recorder_segments"] == len(recorded)
    status, reason = recorder.healthz()
    assert status == 503
    assert "volume full" in reason
    assert "recording stopped: volume full" in recorder.log()
    verified = run_verify(data_dir)
    assert verified.returncode == 0, verified.stdout

    if small_volume.ballast is not None:
        small_volume.ballast.unlink()  # the PVC was grown, or an administrator made room
        wait_for(lambda: recorder.metrics().get("camfleet_recorder_recording") == 1, 30, "recording to resume")
        assert "recording resumes" in recorder.log()
    assert recorder.terminate() == 0
    assert set(recorded) <= set(segment_files(data_dir))
