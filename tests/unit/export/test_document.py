"""manifest.json, SHA256SUMS and the summary line, as data."""

from __future__ import annotations

import json

import pytest

from camfleet.export.document import (
    FORMAT,
    MANIFEST_FILE,
    Mismatch,
    Request,
    Source,
    build_manifest,
    failure,
    format_sums,
    json_line,
    manifest_bytes,
    manifest_disagrees,
    parse_sums,
    safe_relative,
    same_request,
    summary,
)
from camfleet.export.selection import ChainSegment, ChainState, TimeRange, select

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
REQUEST = Request(
    "theft-0418", "SB-XS-2030-0418-07 盗窃案", "taidong-street", (TimeRange(T0, T0 + 30),), ("alice", "bob")
)
SEGMENTS = (
    ChainSegment(1, "seg-000000001.ts", 10, "a" * 64, T0 - 5, T0 + 5),
    ChainSegment(2, "seg-000000002.ts", 20, "b" * 64, T0 + 5, T0 + 15, recovered=True),
    ChainSegment(3, "seg-000000003.ts", 30, "c" * 64, T0 + 15, T0 + 25),
)


def manifest() -> dict[str, object]:
    selection = select(ChainState(SEGMENTS, frozenset({"seg-000000003.ts"})), REQUEST.ranges)
    return build_manifest(REQUEST, selection, Source("f" * 64, 3, 1), 1.0, T0 + 3600, "9.9.9")


def test_manifest_records_request_files_gaps_source_and_tool() -> None:
    document = manifest()
    assert document["format"] == FORMAT
    assert (document["export"], document["caseReference"], document["camera"]) == (
        "theft-0418",
        "SB-XS-2030-0418-07 盗窃案",
        "taidong-street",
    )
    assert document["approvedBy"] == ["alice", "bob"]
    assert document["ranges"] == [{"start": "2026-01-01T00:00:00.000000Z", "end": "2026-01-01T00:00:30.000000Z"}]
    assert document["files"] == [
        {"path": "segments/seg-000000001.ts", "sha256": "a" * 64, "size": 10, "chainSeq": 1,
         "start": "2025-12-31T23:59:55.000000Z", "end": "2026-01-01T00:00:05.000000Z"},
        {"path": "segments/seg-000000002.ts", "sha256": "b" * 64, "size": 20, "chainSeq": 2, "recovered": True,
         "start": "2026-01-01T00:00:05.000000Z", "end": "2026-01-01T00:00:15.000000Z"},
    ]  # fmt: skip
    assert document["totalBytes"] == 30
    assert document["gaps"] == [
        {"start": "2026-01-01T00:00:15.000000Z", "end": "2026-01-01T00:00:30.000000Z", "seconds": 15.0,
         "reason": "pruned"},
    ]  # fmt: skip
    assert document["prunedInRange"] == [
        {"name": "seg-000000003.ts", "start": "2026-01-01T00:00:15.000000Z", "end": "2026-01-01T00:00:25.000000Z"}
    ]
    assert document["source"] == {"chainHead": "f" * 64, "chainSegments": 3, "chainPruned": 1}
    assert document["tool"] == {"name": "camfleet export", "version": "9.9.9"}
    assert document["createdAt"] == "2026-01-01T01:00:00.000000Z"
    assert "no privacy masking" in str(document["content"])


def test_manifest_bytes_are_json_with_readable_non_ascii() -> None:
    data = manifest_bytes(manifest())
    assert "盗窃案".encode() in data
    assert json.loads(data)["export"] == "theft-0418"


def test_same_request_compares_name_case_camera_and_ranges() -> None:
    document = manifest()
    assert same_request(document, REQUEST)
    assert not same_request(document, Request("theft-0418", "other", "taidong-street", REQUEST.ranges))
    assert not same_request(document, Request("theft-0418", REQUEST.case_reference, "taidong-street", ()))


def test_sums_use_sha256sum_text_format_and_parse_back() -> None:
    entries = [("segments/seg-000000001.ts", "a" * 64), (MANIFEST_FILE, "b" * 64)]
    text = format_sums(entries)
    assert text == f"{'a' * 64}  segments/seg-000000001.ts\n{'b' * 64}  manifest.json\n"
    assert parse_sums(text) == entries
    assert parse_sums(f"{'c' * 64} *binary-mode.ts\n") == [("binary-mode.ts", "c" * 64)]


@pytest.mark.parametrize("line", ["nonsense", f"{'a' * 63}  short.ts", f"{'A' * 64}  upper.ts", f"{'a' * 64}  "])
def test_a_line_that_is_not_a_sums_line_is_named(line: str) -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_sums(f"{'a' * 64}  ok.ts\n{line}\n")


def test_names_that_would_need_escaping_are_refused() -> None:
    with pytest.raises(ValueError, match="escaping"):
        format_sums([("bad\nname", "a" * 64)])


@pytest.mark.parametrize(
    ("path", "safe"),
    [("segments/seg-1.ts", True), ("manifest.json", True), ("/etc/passwd", False), ("../x", False),
     ("segments/../../x", False), ("segments//x", False), ("./x", False)],
)  # fmt: skip
def test_only_plain_relative_paths_are_safe(path: str, safe: bool) -> None:
    assert safe_relative(path) is safe


def sums_of(document: dict[str, object]) -> dict[str, str]:
    files = document["files"]
    assert isinstance(files, list)
    return {**{entry["path"]: entry["sha256"] for entry in files}, MANIFEST_FILE: "e" * 64}


def test_agreeing_manifest_and_sums_pass() -> None:
    document = manifest()
    assert manifest_disagrees(document, sums_of(document)) is None


def test_a_hash_differing_between_manifest_and_sums_is_named() -> None:
    document = manifest()
    sums = sums_of(document) | {"segments/seg-000000002.ts": "0" * 64}
    assert manifest_disagrees(document, sums) == Mismatch(
        "segments/seg-000000002.ts", "manifest.json and SHA256SUMS record different hashes"
    )


def test_a_file_only_one_side_lists_is_named() -> None:
    document = manifest()
    extra = sums_of(document) | {"segments/seg-000000009.ts": "0" * 64}
    assert manifest_disagrees(document, extra) == Mismatch(
        "segments/seg-000000009.ts", "in SHA256SUMS but not in manifest.json"
    )
    fewer = {k: v for k, v in sums_of(document).items() if k != "segments/seg-000000001.ts"}
    assert manifest_disagrees(document, fewer) == Mismatch(
        "segments/seg-000000001.ts", "in manifest.json but not in SHA256SUMS"
    )
    uncovered = {k: v for k, v in sums_of(document).items() if k != MANIFEST_FILE}
    assert manifest_disagrees(document, uncovered) == Mismatch(MANIFEST_FILE, "not covered by SHA256SUMS")


def test_a_foreign_manifest_is_refused() -> None:
    mismatch = manifest_disagrees({"format": "something/else", "files": []}, {})
    assert mismatch is not None
    assert mismatch.path == MANIFEST_FILE


def test_the_summary_fits_a_termination_message_even_with_the_longest_names() -> None:
    document = manifest() | {"export": "e" * 253, "camera": "c" * 253}
    line = json_line(summary(document, "d" * 64, "/export/" + "c" * 253, reused=False))
    assert len(line.encode()) < 4096
    parsed = json.loads(line)
    assert (parsed["ok"], parsed["files"], parsed["bytes"], parsed["gaps"]) == (True, 2, 30, 1)
    assert parsed["manifestSha256"] == "d" * 64


def test_a_failure_line_carries_the_broken_link() -> None:
    line = failure("x", "broken", 3, {"segment": "seg-000000004.ts", "kind": "content changed", "detail": "d"})
    assert line == {
        "ok": False,
        "export": "x",
        "exitCode": 3,
        "error": "broken",
        "brokenLink": {"segment": "seg-000000004.ts", "kind": "content changed", "detail": "d"},
    }
