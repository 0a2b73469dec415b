"""The hash chain: what `camfleet verify` reports for an intact chain and for each kind of break."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from camfleet.recorder_pod import verify as verify_cli
from camfleet.recorder_pod.manifest import Manifest, chain_hash
from camfleet.recorder_pod.retention import SECONDS_PER_DAY
from camfleet.recorder_pod.storage import MANIFEST_NAME, file_digest, segments_dir
from camfleet.recorder_pod.verify import (
    CHAIN_REORDERED,
    CONTENT_CHANGED,
    ENTRY_ALTERED,
    ENTRY_REMOVED,
    PRUNED_EARLY,
    SEGMENT_MISSING,
    verify,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
RETENTION = 30 * SECONDS_PER_DAY


def segment_name(number: int) -> str:
    return f"seg-{number:09d}.ts"


def record(data_dir: Path, count: int) -> Manifest:
    """A volume with `count` five-second segments of distinct content, recorded through the real writer."""
    segments_dir(data_dir).mkdir(parents=True, exist_ok=True)
    manifest = Manifest.open(data_dir)
    for number in range(1, count + 1):
        path = segments_dir(data_dir) / segment_name(number)
        path.write_bytes(bytes([number]) * (1000 + number))
        size, sha256 = file_digest(path)
        start = T0 + 5 * (number - 1)
        manifest.record_segment(path.name, size, sha256, start=start, end=start + 5, recovered=False)
    return manifest


def manifest_lines(data_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (data_dir / MANIFEST_NAME).read_text().splitlines()]


def write_lines(data_dir: Path, lines: list[dict[str, object]]) -> None:
    (data_dir / MANIFEST_NAME).write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_intact_chain_counts_every_segment(tmp_path: Path) -> None:
    record(tmp_path, 5)
    verdict = verify(tmp_path)
    assert verdict.intact
    assert verdict.segments == 5
    assert verdict.head == manifest_lines(tmp_path)[-1]["chain"]


def test_each_line_links_to_the_previous_one(tmp_path: Path) -> None:
    record(tmp_path, 3)
    lines = manifest_lines(tmp_path)
    assert lines[0]["prev"] == "0" * 64
    for before, after in itertools.pairwise(lines):
        assert after["prev"] == before["chain"]
    assert all(line["chain"] == chain_hash(str(line["prev"]), line) for line in lines)


def test_one_changed_byte_is_named(tmp_path: Path) -> None:
    record(tmp_path, 5)
    path = segments_dir(tmp_path) / segment_name(3)
    content = bytearray(path.read_bytes())
    content[500] ^= 0x01
    path.write_bytes(bytes(content))
    broken = verify(tmp_path).first_break
    assert broken is not None
    assert (broken.segment, broken.kind) == (segment_name(3), CONTENT_CHANGED)


def test_a_deleted_segment_is_named(tmp_path: Path) -> None:
    record(tmp_path, 4)
    (segments_dir(tmp_path) / segment_name(2)).unlink()
    broken = verify(tmp_path).first_break
    assert broken is not None
    assert (broken.segment, broken.kind) == (segment_name(2), SEGMENT_MISSING)


def test_an_edited_line_is_named(tmp_path: Path) -> None:
    record(tmp_path, 4)
    lines = manifest_lines(tmp_path)
    lines[1]["end"] = "2027-01-01T00:00:00.000000Z"  # someone extends a segment's time
    write_lines(tmp_path, lines)
    broken = verify(tmp_path).first_break
    assert broken is not None
    assert (broken.segment, broken.kind) == (segment_name(2), ENTRY_ALTERED)


def test_a_line_rewritten_with_a_fresh_hash_is_named(tmp_path: Path) -> None:
    """Tampering with a segment and re-hashing its line breaks the link from the line after it."""
    record(tmp_path, 4)
    path = segments_dir(tmp_path) / segment_name(2)
    path.write_bytes(b"replaced footage")
    lines = manifest_lines(tmp_path)
    lines[1]["size"], lines[1]["sha256"] = file_digest(path)
    lines[1]["chain"] = chain_hash(str(lines[1]["prev"]), lines[1])
    write_lines(tmp_path, lines)
    broken = verify(tmp_path).first_break
    assert broken is not None
    assert (broken.segment, broken.kind) == (segment_name(2), ENTRY_ALTERED)


def test_swapped_lines_are_reported_as_reordered(tmp_path: Path) -> None:
    record(tmp_path, 5)
    lines = manifest_lines(tmp_path)
    lines[2], lines[3] = lines[3], lines[2]
    write_lines(tmp_path, lines)
    broken = verify(tmp_path).first_break
    assert broken is not None
    assert (broken.segment, broken.kind) == (segment_name(4), CHAIN_REORDERED)


def test_a_line_dropped_with_its_segment_is_reported_as_removed(tmp_path: Path) -> None:
    record(tmp_path, 5)
    (segments_dir(tmp_path) / segment_name(3)).unlink()
    write_lines(tmp_path, [line for line in manifest_lines(tmp_path) if line["name"] != segment_name(3)])
    broken = verify(tmp_path).first_break
    assert broken is not None
    assert (broken.segment, broken.kind) == (segment_name(4), ENTRY_REMOVED)


def test_garbage_line_is_reported(tmp_path: Path) -> None:
    record(tmp_path, 2)
    with (tmp_path / MANIFEST_NAME).open("a") as manifest:
        manifest.write("not json\n")
    broken = verify(tmp_path).first_break
    assert broken is not None
    assert (broken.segment, broken.kind) == ("line 3", ENTRY_ALTERED)


def test_the_first_break_is_the_one_reported(tmp_path: Path) -> None:
    record(tmp_path, 5)
    (segments_dir(tmp_path) / segment_name(4)).unlink()
    (segments_dir(tmp_path) / segment_name(2)).write_bytes(b"x")
    broken = verify(tmp_path).first_break
    assert broken is not None
    assert broken.segment == segment_name(2)


def test_pruned_segments_keep_the_chain_verifiable(tmp_path: Path) -> None:
    manifest = record(tmp_path, 4)
    for number in (1, 2):
        manifest.record_prune(segment_name(number), pruned_at=T0 + RETENTION + 60, retention_seconds=RETENTION)
        (segments_dir(tmp_path) / segment_name(number)).unlink()
    verdict = verify(tmp_path, now=T0 + RETENTION + 120)
    assert verdict.intact
    assert (verdict.segments, verdict.pruned) == (4, 2)
    assert [segment.name for segment in Manifest.open(tmp_path).live_segments()] == [segment_name(3), segment_name(4)]


def test_a_prune_inside_retention_is_named(tmp_path: Path) -> None:
    """Even a prune line with valid hashes is caught when it deleted footage before its retention ended."""
    manifest = record(tmp_path, 3)
    manifest.record_prune(segment_name(2), pruned_at=T0 + 29 * SECONDS_PER_DAY, retention_seconds=RETENTION)
    (segments_dir(tmp_path) / segment_name(2)).unlink()
    broken = verify(tmp_path, now=T0 + 29 * SECONDS_PER_DAY).first_break
    assert broken is not None
    assert (broken.segment, broken.kind) == (segment_name(2), PRUNED_EARLY)


def test_a_prune_under_a_retention_below_the_legal_floor_is_named(tmp_path: Path) -> None:
    manifest = record(tmp_path, 2)
    manifest.record_prune(segment_name(1), pruned_at=T0 + 2 * SECONDS_PER_DAY, retention_seconds=SECONDS_PER_DAY)
    broken = verify(tmp_path, now=T0 + 2 * SECONDS_PER_DAY).first_break
    assert broken is not None
    assert (broken.segment, broken.kind) == (segment_name(1), PRUNED_EARLY)


def test_a_torn_last_line_is_noted_then_cut_off_by_the_writer(tmp_path: Path) -> None:
    record(tmp_path, 3)
    with (tmp_path / MANIFEST_NAME).open("a") as manifest:
        manifest.write('{"chain":"abc","kind":"segm')  # the crash happened mid-write
    verdict = verify(tmp_path)
    assert verdict.intact
    assert verdict.segments == 3
    assert any("torn" in note for note in verdict.notes)

    reopened = Manifest.open(tmp_path)
    assert (tmp_path / MANIFEST_NAME).read_text().endswith("}\n")
    reopened.record_segment(segment_name(3), 0, "0" * 64, start=T0, end=T0, recovered=True)
    assert verify(tmp_path).notes == []


def test_unlisted_segment_files_are_noted_not_broken(tmp_path: Path) -> None:
    record(tmp_path, 2)
    (segments_dir(tmp_path) / segment_name(3)).write_bytes(b"being written")
    verdict = verify(tmp_path)
    assert verdict.intact
    assert any(segment_name(3) in note for note in verdict.notes)


def test_cli_says_intact_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(tmp_path, 3)
    assert verify_cli.main([str(tmp_path)]) == 0
    assert "chain intact: 3 segments" in capsys.readouterr().out


def test_cli_names_the_broken_link_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(tmp_path, 3)
    (segments_dir(tmp_path) / segment_name(2)).write_bytes(b"x")
    assert verify_cli.main([str(tmp_path)]) == 1
    assert f"chain broken at {segment_name(2)}: {CONTENT_CHANGED}" in capsys.readouterr().out


def test_cli_without_a_manifest_exits_2(tmp_path: Path) -> None:
    assert verify_cli.main([str(tmp_path)]) == 2
