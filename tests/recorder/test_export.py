"""`camfleet export` and `camfleet export-verify` on real files: a recording folder written through the recorder's
own manifest API (a genuine hash chain), exported, verified, tampered with, exported again. No Kubernetes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from camfleet.export import cli as export_cli
from camfleet.export import process
from camfleet.export import verify as export_verify
from camfleet.export.document import Request
from camfleet.export.errors import EXIT_DESTINATION_CONFLICT, EXIT_SOURCE_BROKEN, EXIT_USAGE, SourceBroken
from camfleet.export.files import copy_segment
from camfleet.export.process import Paths, run_export
from camfleet.export.selection import TimeRange
from camfleet.recorder_pod.manifest import Manifest, to_timestamp
from camfleet.recorder_pod.retention import SECONDS_PER_DAY
from camfleet.recorder_pod.storage import file_digest, segments_dir
from camfleet.recorder_pod.verify import CONTENT_CHANGED, Verdict, verify

T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z: old enough for a genuine prune after 30 days
RETENTION = 30 * SECONDS_PER_DAY
SEGMENT_SECONDS = 10
# Segments 1-10 cover 0-100 s, except that nothing was recorded from 60 to 80 s (segments 7 and 8 never existed)
# and segment 2 (10-20 s) was pruned after its retention.
RECORDED = [n for n in range(1, 11) if n not in (7, 8)]
PRUNED = "seg-000000002.ts"


def name(number: int) -> str:
    return f"seg-{number:09d}.ts"


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    source = tmp_path / "recordings"
    segments_dir(source).mkdir(parents=True)
    manifest = Manifest.open(source)
    for number in RECORDED:
        path = segments_dir(source) / name(number)
        path.write_bytes(os.urandom(2000 + number))
        size, sha256 = file_digest(path)
        start = T0 + SEGMENT_SECONDS * (number - 1)
        manifest.record_segment(path.name, size, sha256, start=start, end=start + SEGMENT_SECONDS, recovered=False)
    segment = next(s for s in manifest.live_segments() if s.name == PRUNED)
    manifest.record_prune(PRUNED, pruned_at=segment.end + RETENTION + 60, retention_seconds=RETENTION)
    (segments_dir(source) / PRUNED).unlink()
    return source


@dataclass
class Run:
    code: int
    line: dict[str, Any]
    stdout: str


def at(seconds: float) -> str:
    return to_timestamp(T0 + seconds)


def export(source: Path, destination: Path, *ranges: tuple[float, float], **flags: str) -> Run:
    argv = ["--source", str(source), "--destination", str(destination), "--name", "theft-0418",
            "--case-reference", flags.get("case", "SB-XS-2030-0418-07"), "--camera", "taidong-street",
            "--termination-log", flags.get("termination_log", str(destination.parent / "no-such-file"))]  # fmt: skip
    for start, end in ranges or ((5, 45),):
        argv += ["--range", f"{at(start)}/{at(end)}"]
    return _run(argv)


def _run(argv: list[str]) -> Run:
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from camfleet.export.cli import main; sys.exit(main(sys.argv[1:]))",
         *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"stdout must be exactly one JSON line, got {result.stdout!r}; stderr {result.stderr}"
    return Run(result.returncode, json.loads(lines[0]), result.stdout)


def verify_export(directory: Path, *flags: str) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from camfleet.export.verify import main; sys.exit(main(sys.argv[1:]))",
         str(directory), *flags],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def manifest_of(destination: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((destination / "manifest.json").read_text())
    return value


def test_a_range_is_exported_with_manifest_and_sums(recording: Path, tmp_path: Path) -> None:
    destination = tmp_path / "export" / "taidong-street"
    before = snapshot(recording)
    run = export(recording, destination, (5, 45))
    assert run.code == 0, run.line
    assert snapshot(recording) == before  # the source is only read (it is mounted read-only in the Job)
    # 5-45 s: segment 1 (0-10), 2 pruned (10-20), 3, 4, 5 (20-50)
    copied = sorted(p.name for p in (destination / "segments").iterdir())
    assert copied == [name(1), name(3), name(4), name(5)]
    for copy_name in copied:
        exported = destination / "segments" / copy_name
        assert exported.read_bytes() == (segments_dir(recording) / copy_name).read_bytes()
        assert exported.stat().st_mode & 0o777 == 0o444  # evidence is not meant to be written again
    manifest = manifest_of(destination)
    assert [entry["path"] for entry in manifest["files"]] == [f"segments/{n}" for n in copied]
    assert manifest["totalBytes"] == sum((segments_dir(recording) / n).stat().st_size for n in copied)
    assert manifest["caseReference"] == "SB-XS-2030-0418-07"
    assert manifest["camera"] == "taidong-street"
    assert (
        manifest["source"]["chainHead"]
        == json.loads((recording / "manifest.jsonl").read_text().splitlines()[-1])["chain"]
    )
    assert run.line["ok"] is True
    assert run.line["files"] == 4
    assert run.line["bytes"] == manifest["totalBytes"]
    assert run.line["manifestSha256"] == file_digest(destination / "manifest.json")[1]
    assert run.line["reused"] is False


def test_sha256sum_itself_accepts_the_sums_file(recording: Path, tmp_path: Path) -> None:
    destination = tmp_path / "export"
    assert export(recording, destination).code == 0
    checked = subprocess.run(
        ["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=destination, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "manifest.json: OK" in checked.stdout


def test_export_verify_passes_on_a_fresh_export(recording: Path, tmp_path: Path) -> None:
    destination = tmp_path / "export"
    run = export(recording, destination)
    code, output = verify_export(destination, "--manifest-sha256", run.line["manifestSha256"])
    assert code == 0, output
    assert "export intact: 4 files" in output


def test_one_flipped_byte_in_an_exported_file_is_named(recording: Path, tmp_path: Path) -> None:
    destination = tmp_path / "export"
    assert export(recording, destination).code == 0
    victim = destination / "segments" / name(4)
    victim.chmod(0o644)
    content = bytearray(victim.read_bytes())
    content[100] ^= 0x01
    victim.write_bytes(bytes(content))
    code, output = verify_export(destination)
    assert code == 1
    assert f"segments/{name(4)}" in output


def test_a_rewritten_manifest_and_sums_are_caught_by_the_recorded_manifest_hash(
    recording: Path, tmp_path: Path
) -> None:
    destination = tmp_path / "export"
    run = export(recording, destination)
    manifest = destination / "manifest.json"
    manifest.chmod(0o644)
    manifest.write_text(manifest.read_text().replace("SB-XS-2030-0418-07", "SB-XS-2030-0418-08"))
    sums = destination / "SHA256SUMS"
    sums.chmod(0o644)
    lines = sums.read_text().splitlines()
    lines[-1] = f"{file_digest(manifest)[1]}  manifest.json"
    sums.write_text("\n".join(lines) + "\n")
    assert verify_export(destination)[0] == 0  # consistent with itself...
    code, output = verify_export(destination, "--manifest-sha256", run.line["manifestSha256"])
    assert code == 1  # ...but not with what the operator recorded
    assert "manifest.json" in output


def test_an_extra_file_slipped_into_the_export_is_named(recording: Path, tmp_path: Path) -> None:
    destination = tmp_path / "export"
    assert export(recording, destination).code == 0
    (destination / "segments" / name(9)).write_bytes(b"planted")
    code, output = verify_export(destination)
    assert code == 1
    assert f"segments/{name(9)}: in the export but listed nowhere" in output


def test_a_tampered_source_segment_is_refused_and_named(recording: Path, tmp_path: Path) -> None:
    victim = segments_dir(recording) / name(9)  # outside the requested range: any tampering refuses the export
    content = bytearray(victim.read_bytes())
    content[0] ^= 0xFF
    victim.write_bytes(bytes(content))
    destination = tmp_path / "export"
    termination_log = tmp_path / "termination-log"
    termination_log.touch()
    run = export(recording, destination, termination_log=str(termination_log))
    assert run.code == EXIT_SOURCE_BROKEN
    assert run.line["ok"] is False
    assert run.line["brokenLink"]["segment"] == name(9)
    assert run.line["brokenLink"]["kind"] == CONTENT_CHANGED
    assert name(9) in run.line["error"]
    assert json.loads(termination_log.read_text()) == run.line
    assert not (destination / "SHA256SUMS").exists()
    assert not list(destination.rglob("seg-*"))


def test_a_segment_deleted_from_the_source_without_a_prune_line_is_refused(recording: Path, tmp_path: Path) -> None:
    (segments_dir(recording) / name(3)).unlink()
    run = export(recording, tmp_path / "export")
    assert run.code == EXIT_SOURCE_BROKEN
    assert run.line["brokenLink"]["segment"] == name(3)


def test_a_source_changed_after_verification_is_caught_while_copying(recording: Path, tmp_path: Path) -> None:
    source = segments_dir(recording) / name(3)
    size, sha256 = file_digest(source)
    source.write_bytes(b"changed after it was verified")
    with pytest.raises(SourceBroken) as caught:
        copy_segment(source, tmp_path / name(3), size, sha256)
    assert caught.value.segment == name(3)
    assert not list(tmp_path.glob(f"*{name(3)}*"))


def test_gaps_are_reported_with_their_reason(recording: Path, tmp_path: Path) -> None:
    destination = tmp_path / "export"
    run = export(recording, destination, (5, 95))
    assert run.code == 0
    gaps = manifest_of(destination)["gaps"]
    assert gaps == [
        {"start": at(10), "end": at(20), "seconds": 10.0, "reason": "pruned"},
        {"start": at(60), "end": at(80), "seconds": 20.0, "reason": "not recorded"},
    ]
    assert manifest_of(destination)["prunedInRange"] == [{"name": PRUNED, "start": at(10), "end": at(20)}]
    assert run.line["gaps"] == 2


def test_a_range_with_no_footage_exports_nothing_and_says_so(recording: Path, tmp_path: Path) -> None:
    destination = tmp_path / "export"
    run = export(recording, destination, (200, 300))
    assert run.code == 0
    assert (run.line["files"], run.line["bytes"], run.line["gaps"]) == (0, 0, 1)
    assert verify_export(destination)[0] == 0


def test_a_rerun_finds_the_finished_export_and_copies_nothing(recording: Path, tmp_path: Path) -> None:
    destination = tmp_path / "export"
    termination_log = tmp_path / "termination-log"
    termination_log.touch()
    first = export(recording, destination)
    before = {p.name: p.stat().st_mtime_ns for p in destination.rglob("*")}
    second = export(recording, destination, termination_log=str(termination_log))
    assert second.code == 0
    assert second.line["reused"] is True
    assert {**second.line, "reused": False} == first.line
    assert {p.name: p.stat().st_mtime_ns for p in destination.rglob("*")} == before
    assert json.loads(termination_log.read_text()) == second.line


def test_a_partial_destination_is_cleared_and_redone(recording: Path, tmp_path: Path) -> None:
    destination = tmp_path / "export"
    (destination / "segments").mkdir(parents=True)
    (destination / "segments" / name(1)).write_bytes(b"half")
    (destination / "segments" / f".{name(3)}.partial").write_bytes(b"torn")
    (destination / ".manifest.json.partial").write_bytes(b"{")
    run = export(recording, destination)
    assert run.code == 0, run.line
    assert verify_export(destination)[0] == 0
    assert sorted(p.name for p in destination.rglob("*")) == sorted(
        ["SHA256SUMS", "manifest.json", "segments", name(1), name(3), name(4), name(5)]
    )


def test_a_destination_with_unrelated_files_is_not_touched(recording: Path, tmp_path: Path) -> None:
    destination = tmp_path / "home"
    destination.mkdir()
    (destination / "thesis.tex").write_text("years of work")
    run = export(recording, destination)
    assert run.code == EXIT_DESTINATION_CONFLICT
    assert "thesis.tex" in run.line["error"]
    assert (destination / "thesis.tex").read_text() == "years of work"


def test_an_altered_finished_export_is_refused_not_overwritten(recording: Path, tmp_path: Path) -> None:
    destination = tmp_path / "export"
    assert export(recording, destination).code == 0
    victim = destination / "segments" / name(1)
    victim.chmod(0o644)
    victim.write_bytes(b"altered evidence")
    run = export(recording, destination)
    assert run.code == EXIT_DESTINATION_CONFLICT
    assert f"segments/{name(1)}" in run.line["error"]
    assert victim.read_bytes() == b"altered evidence"  # left as found, for whoever investigates


def test_another_request_into_the_same_destination_is_refused(recording: Path, tmp_path: Path) -> None:
    destination = tmp_path / "export"
    assert export(recording, destination).code == 0
    run = export(recording, destination, (0, 30))
    assert run.code == EXIT_DESTINATION_CONFLICT
    assert "another request" in run.line["error"]


def test_missing_flags_are_a_usage_error_with_a_json_line(tmp_path: Path) -> None:
    run = _run(["--source", str(tmp_path)])
    assert run.code == EXIT_USAGE
    assert run.line["ok"] is False
    assert "--destination" in run.line["error"]


def test_a_range_without_time_zone_is_refused(recording: Path, tmp_path: Path) -> None:
    naive = "2025-01-01T00:00:00/2025-01-01T01:00:00"
    flags = ["--name", "n", "--case-reference", "c", "--camera", "cam", "--range", naive]
    run = _run(["--source", str(recording), "--destination", str(tmp_path / "e"), *flags])
    assert run.code == EXIT_USAGE
    assert "time zone" in run.line["error"]


def test_a_folder_without_a_recording_is_a_usage_error(tmp_path: Path) -> None:
    run = export(tmp_path, tmp_path / "export")
    assert run.code == EXIT_USAGE
    assert "manifest.jsonl is missing" in run.line["error"]


def test_flags_fall_back_to_environment_variables(recording: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    destination = tmp_path / "export"
    for key, value in {
        "SOURCE": str(recording), "DESTINATION": str(destination), "NAME": "theft-0418",
        "CASE_REFERENCE": "SB-XS-2030-0418-07", "CAMERA": "taidong-street",
        "RANGES": f"{at(0)}/{at(15)},{at(40)}/{at(45)}", "TERMINATION_LOG": str(tmp_path / "none"),
        "APPROVED_BY": "alice,bob",
    }.items():  # fmt: skip
        monkeypatch.setenv(f"CAMFLEET_EXPORT_{key}", value)
    assert export_cli.main([]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == 2  # segment 1 and segment 5; 2 is pruned
    assert manifest_of(destination)["approvedBy"] == ["alice", "bob"]
    assert export_verify.main([str(destination)]) == 0


def request(*ranges: tuple[float, float]) -> Request:
    spans = tuple(TimeRange(T0 + start, T0 + end) for start, end in ranges)
    return Request("theft-0418", "SB-XS-2030-0418-07", "taidong-street", spans)


def test_segments_appended_after_verification_are_not_exported(
    recording: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recorder keeps writing during an export; only the chain up to the verified head is used."""

    def verify_then_record_more(source: Path, now: float) -> Verdict:
        verdict = verify(source, now)
        late = segments_dir(source) / name(11)
        late.write_bytes(b"recorded while the export ran")
        size, sha256 = file_digest(late)
        Manifest.open(source).record_segment(late.name, size, sha256, T0 + 100, T0 + 110, recovered=False)
        return verdict

    monkeypatch.setattr(process, "verify", verify_then_record_more)
    destination = tmp_path / "export"
    result = run_export(request((85, 115)), Paths(recording, destination))
    assert [entry["path"] for entry in manifest_of(destination)["files"]] == [
        f"segments/{name(9)}",
        f"segments/{name(10)}",
    ]
    assert result["chainHead"] != json.loads((recording / "manifest.jsonl").read_text().splitlines()[-1])["chain"]
    assert manifest_of(destination)["gaps"][-1] == {"start": at(100), "end": at(115), "seconds": 15.0,
                                                    "reason": "not recorded"}  # fmt: skip


def test_a_prune_racing_the_verification_is_told_apart_from_a_deletion(
    recording: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recorder appends a prune line, then deletes the file: a verification in between sees it missing."""
    calls = []

    def verify_during_a_prune(source: Path, now: float) -> Verdict:
        calls.append(now)
        if len(calls) > 1:
            return verify(source, now)
        (segments_dir(source) / name(1)).unlink()  # as if the line was read just before the prune line came
        verdict = verify(source, now)
        segment = next(s for s in Manifest.open(source).live_segments() if s.name == name(1))
        Manifest.open(source).record_prune(name(1), segment.end + RETENTION + 1, RETENTION)
        return verdict

    monkeypatch.setattr(process, "verify", verify_during_a_prune)
    destination = tmp_path / "export"
    result = run_export(request((0, 30)), Paths(recording, destination))
    assert len(calls) == 2
    assert result["files"] == 1  # segment 3; 1 and 2 are pruned
    assert [gap["reason"] for gap in manifest_of(destination)["gaps"]] == ["pruned"]
