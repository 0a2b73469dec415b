"""A masked footage export of a real recording (R17): the recorder records the simulator's real RTSP stream with
real ffmpeg, `camfleet export --mask-privacy` re-encodes each segment with real ffmpeg, and the decoded frames are
black inside every mask polygon (a triangle and a concave one) and the picture outside, including inside each
polygon's bounding box. `camfleet export-verify --recording` vouches for the masked files and their originals, and
names a tampered masked file and an original the chain does not hold. No Kubernetes."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from camfleet.privacy_masks import MaskPolygon
from camfleet.recorder_pod.manifest import Manifest, from_timestamp, to_timestamp
from camfleet.recorder_pod.storage import file_digest, segments_dir
from tests.recorder.conftest import FFMPEG, RecorderProcess, cleaned_up, recorded_segments, wait_for

WIDTH, HEIGHT = 640, 360  # the simulator's stream
SEGMENTS = 2
# The simulator shows SMPTE bars: the top two thirds are seven bright bars, so every point checked lies there.
TRIANGLE = MaskPolygon("shop-window", ((0.05, 0.05), (0.45, 0.05), (0.05, 0.6)))
HOOK = MaskPolygon("flat-balcony", ((0.5, 0.05), (0.95, 0.05), (0.95, 0.6), (0.85, 0.6), (0.85, 0.2), (0.5, 0.2)))
INSIDE = {
    TRIANGLE.name: [(0.1, 0.1), (0.3, 0.1), (0.1, 0.4), (0.2, 0.2)],
    HOOK.name: [(0.55, 0.1), (0.9, 0.1), (0.9, 0.5), (0.7, 0.15)],
}
OUTSIDE_IN_BOX = {  # inside the polygon's bounding box, outside the polygon: the picture must show
    TRIANGLE.name: [(0.4, 0.5), (0.35, 0.4)],
    HOOK.name: [(0.6, 0.4), (0.75, 0.5)],
}
OUTSIDE = [(0.48, 0.3), (0.02, 0.3), (0.48, 0.62)]
BLACK_MAX = 20  # luma of blanked pixels after a lossy re-encode
TOLERANCE = 25  # luma difference between the masked copy and the original where nothing was masked


@dataclass(frozen=True)
class Recording:
    data_dir: Path
    segments: list[dict[str, Any]]


@pytest.fixture(scope="module")
def recording(rtsp_port: int, tmp_path_factory: pytest.TempPathFactory) -> Recording:
    root = tmp_path_factory.mktemp("masked-recording")
    data_dir = root / "volume"
    url = f"rtsp://127.0.0.1:{rtsp_port}/cam/lobby-1/main"
    with cleaned_up() as started:
        recorder = RecorderProcess(data_dir, url, "camfleet-masked-export-test", root / "recorder.log")
        started.append(recorder)
        wait_for(lambda: len(recorded_segments(data_dir)) >= SEGMENTS, 90, f"{SEGMENTS} segments")
        assert recorder.terminate() == 0, recorder.log()
    return Recording(data_dir, [line for line in recorded_segments(data_dir) if line["size"] > 0])


def run_export(recording: Recording, destination: Path, *masks: MaskPolygon) -> subprocess.CompletedProcess[str]:
    start = min(line["start"] for line in recording.segments)
    end = max(line["end"] for line in recording.segments)
    argv = ["--source", str(recording.data_dir), "--destination", str(destination), "--name", "balcony-case",
            "--case-reference", "SB-2030-0501-02", "--camera", "lobby-1", "--range", f"{start}/{end}",
            "--termination-log", str(destination.parent / "no-such-file"), "--mask-privacy"]  # fmt: skip
    for mask in masks:
        argv += ["--privacy-mask", mask.to_arg()]
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from camfleet.export.cli import main; sys.exit(main(sys.argv[1:]))",
         *argv],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    return result


def export(recording: Recording, destination: Path, *masks: MaskPolygon) -> dict[str, Any]:
    result = run_export(recording, destination, *masks)
    assert result.returncode == 0, result.stdout + result.stderr
    line: dict[str, Any] = json.loads(result.stdout)
    return line


def verify_export(directory: Path, *flags: str) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from camfleet.export.verify import main; sys.exit(main(sys.argv[1:]))",
         str(directory), *flags],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def frames(path: Path) -> list[bytes]:
    """Every decoded frame, one byte of luma per pixel."""
    raw = subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray",
         "pipe:1"],
        check=True, capture_output=True, timeout=120,
    ).stdout  # fmt: skip
    size = WIDTH * HEIGHT
    assert raw, f"{path.name} decodes to no frames"
    assert len(raw) % size == 0, f"{path.name} is not {WIDTH}x{HEIGHT}"
    return [raw[offset : offset + size] for offset in range(0, len(raw), size)]


def luma(frame: bytes, left: float, top: float) -> int:
    return frame[int(top * HEIGHT) * WIDTH + int(left * WIDTH)]


@pytest.fixture(scope="module")
def masked(recording: Recording, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    destination = tmp_path_factory.mktemp("masked-export") / "lobby-1"
    return destination, export(recording, destination, TRIANGLE, HOOK)


def test_masked_files_are_black_inside_each_polygon_and_the_picture_outside(
    recording: Recording, masked: tuple[Path, dict[str, Any]]
) -> None:
    destination, line = masked
    assert line["files"] == len(recording.segments) >= SEGMENTS
    for segment in recording.segments:
        copy_frames = frames(destination / "segments" / segment["name"])
        original_frames = frames(segments_dir(recording.data_dir) / segment["name"])
        assert abs(len(copy_frames) - len(original_frames)) <= 1, "the masked copy keeps every frame"
        for copy, original in zip(copy_frames[1:-1:5], original_frames[1:-1:5], strict=False):
            for name, points in INSIDE.items():
                assert [luma(copy, *p) for p in points] == [pytest.approx(0, abs=BLACK_MAX)] * len(points), name
            for point in [*OUTSIDE, *OUTSIDE_IN_BOX[TRIANGLE.name], *OUTSIDE_IN_BOX[HOOK.name]]:
                assert luma(original, *point) > BLACK_MAX + TOLERANCE, f"{point} is bright in the original"
                assert abs(luma(copy, *point) - luma(original, *point)) <= TOLERANCE, f"{point} left as it was"


def test_the_manifest_names_each_original_with_its_chain_hash(
    recording: Recording, masked: tuple[Path, dict[str, Any]]
) -> None:
    destination, _ = masked
    manifest = json.loads((destination / "manifest.json").read_text())
    assert manifest["privacyMasks"] == [
        {"name": "shop-window", "corners": [[0.05, 0.05], [0.45, 0.05], [0.05, 0.6]]},
        {"name": "flat-balcony", "corners": [[0.5, 0.05], [0.95, 0.05], [0.95, 0.6], [0.85, 0.6], [0.85, 0.2],
                                             [0.5, 0.2]]},
    ]  # fmt: skip
    assert "privacy masks blanked" in manifest["content"]
    chain = {line["name"]: line for line in recording.segments}
    for entry in manifest["files"]:
        original = chain[entry["original"]["name"]]
        assert entry["original"] == {"name": original["name"], "sha256": original["sha256"], "size": original["size"]}
        assert entry["path"] == f"segments/{original['name']}"
        assert (entry["size"], entry["sha256"]) == file_digest(destination / entry["path"])
        assert entry["sha256"] != original["sha256"], "the masked file is not the original"
    sums = (destination / "SHA256SUMS").read_text()
    assert all(f"{entry['sha256']}  {entry['path']}" in sums for entry in manifest["files"])


def test_export_verify_vouches_for_the_masked_files_and_their_originals(
    recording: Recording, masked: tuple[Path, dict[str, Any]]
) -> None:
    destination, line = masked
    code, output = verify_export(destination, "--manifest-sha256", line["manifestSha256"], "--recording",
                                 str(recording.data_dir))  # fmt: skip
    assert code == 0, output
    assert f"export intact: {line['files']} files ({line['files']} masked)" in output
    assert "every original is in the recording's chain" in output


def _writable_copy(destination: Path, target: Path) -> Path:
    shutil.copytree(destination, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def test_export_verify_names_a_tampered_masked_file(
    recording: Recording, masked: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    tampered = _writable_copy(masked[0], tmp_path / "tampered")
    victim = tampered / "segments" / recording.segments[0]["name"]
    content = bytearray(victim.read_bytes())
    content[len(content) // 2] ^= 0x01
    victim.write_bytes(bytes(content))
    code, output = verify_export(tampered, "--recording", str(recording.data_dir))
    assert code == 1
    assert f"segments/{victim.name}: sha256" in output


def _rewrite(export_dir: Path, change: Any) -> None:
    """A forger's edit of manifest.json, with SHA256SUMS rewritten to match: consistent with itself."""
    manifest_path = export_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    change(manifest["files"][0]["original"])
    manifest_path.write_text(json.dumps(manifest, indent=2))
    sums = export_dir / "SHA256SUMS"
    lines = [text for text in sums.read_text().splitlines() if not text.endswith("  manifest.json")]
    sums.write_text("\n".join([*lines, f"{file_digest(manifest_path)[1]}  manifest.json"]) + "\n")


def test_export_verify_names_an_original_the_chain_does_not_hold(
    recording: Recording, masked: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    unknown = _writable_copy(masked[0], tmp_path / "unknown")
    _rewrite(unknown, lambda original: original.update(name="seg-999999999.ts"))
    assert verify_export(unknown)[0] == 0, "consistent with itself..."
    code, output = verify_export(unknown, "--recording", str(recording.data_dir))
    assert code == 1  # ...but not with the camera's chain
    assert "its original seg-999999999.ts is not in the recording's chain" in output

    other_hash = _writable_copy(masked[0], tmp_path / "other-hash")
    _rewrite(other_hash, lambda original: original.update(sha256="ab" * 32))
    code, output = verify_export(other_hash, "--recording", str(recording.data_dir))
    assert code == 1
    assert f"has sha256 {recording.segments[0]['sha256']} in the chain, not {'ab' * 32}" in output


def test_export_verify_refuses_a_recording_whose_chain_was_altered(
    recording: Recording, masked: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    forged = tmp_path / "forged-recording"
    shutil.copytree(recording.data_dir, forged, ignore=shutil.ignore_patterns(".recorder.lock", "segments"))
    lines = (forged / "manifest.jsonl").read_text().splitlines()
    first = next(i for i, text in enumerate(lines) if '"kind": "segment"' in text or '"kind":"segment"' in text)
    entry = json.loads(lines[first])
    entry["sha256"] = "cd" * 32  # a segment line rewritten without its chain hash
    lines[first] = json.dumps(entry)
    (forged / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    code, output = verify_export(masked[0], "--recording", str(forged))
    assert code == 1
    assert f"manifest.jsonl line {first + 1}: breaks the hash chain" in output


def test_a_camera_without_masks_gets_its_original_segments(recording: Recording, tmp_path: Path) -> None:
    destination = tmp_path / "no-masks" / "lobby-1"
    line = export(recording, destination)
    manifest = json.loads((destination / "manifest.json").read_text())
    assert manifest["privacyMasks"] == []
    assert "the camera has no privacy masks" in manifest["content"]
    for entry in manifest["files"]:
        name = entry["path"].split("/")[-1]
        assert (destination / entry["path"]).read_bytes() == (segments_dir(recording.data_dir) / name).read_bytes()
    code, output = verify_export(destination, "--manifest-sha256", line["manifestSha256"], "--recording",
                                 str(recording.data_dir))  # fmt: skip
    assert code == 0, output


def test_a_rerun_finds_the_masked_export_made_and_reencodes_nothing(
    recording: Recording, masked: tuple[Path, dict[str, Any]]
) -> None:
    destination, first = masked
    before = {p.name: p.stat().st_mtime_ns for p in (destination / "segments").iterdir()}
    again = export(recording, destination, TRIANGLE, HOOK)
    assert again["reused"] is True
    assert again["manifestSha256"] == first["manifestSha256"]
    assert {p.name: p.stat().st_mtime_ns for p in (destination / "segments").iterdir()} == before


def test_the_same_destination_with_other_masks_is_refused(
    recording: Recording, masked: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    other = _writable_copy(masked[0], tmp_path / "other-masks")
    result = run_export(recording, other, TRIANGLE)
    assert result.returncode == 4, result.stdout + result.stderr  # EXIT_DESTINATION_CONFLICT
    assert "of another request" in result.stdout


def test_an_empty_segment_a_crash_left_is_kept_as_it_is(recording: Recording, tmp_path: Path) -> None:
    source = tmp_path / "with-empty"
    shutil.copytree(recording.data_dir, source, ignore=shutil.ignore_patterns(".recorder.lock"))
    empty = segments_dir(source) / "seg-000000900.ts"
    empty.write_bytes(b"")
    last_end = max(from_timestamp(line["end"]) for line in recording.segments)
    Manifest.open(source).record_segment(empty.name, 0, hashlib.sha256(b"").hexdigest(), start=last_end - 1,
                                         end=last_end - 1, recovered=True, written=time.time())  # fmt: skip
    copy = Recording(source, [*recording.segments, {"name": empty.name, "start": to_timestamp(last_end - 1),
                                                    "end": to_timestamp(last_end), "size": 0}])  # fmt: skip
    destination = tmp_path / "export" / "lobby-1"
    line = export(copy, destination, TRIANGLE)
    manifest = json.loads((destination / "manifest.json").read_text())
    entry = next(e for e in manifest["files"] if e["path"] == f"segments/{empty.name}")
    assert (entry["size"], entry["original"]["name"]) == (0, empty.name)
    assert line["files"] == len(recording.segments) + 1
    code, output = verify_export(destination, "--recording", str(source))
    assert code == 0, output


def test_timestamps_are_kept_so_masked_segments_play_in_sequence(
    recording: Recording, masked: tuple[Path, dict[str, Any]]
) -> None:
    destination, _ = masked

    def start_time(path: Path) -> float:
        probed = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=start_time", "-of", "csv=p=0", str(path)],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return float(probed.stdout.strip())

    for segment in recording.segments:
        original = start_time(segments_dir(recording.data_dir) / segment["name"])
        assert start_time(destination / "segments" / segment["name"]) == pytest.approx(original, abs=0.2)
