"""`camfleet verify DIR`: recompute every segment's hash and the chain, and name the first broken link.

Kinds of break, in the order a reader would look for them:

- entry altered:    a manifest line no longer matches its own chain hash, or a line was rewritten with a fresh
                    hash so the next line's link to it breaks;
- entry removed:    lines are missing from the middle of the chain (a gap in `seq`);
- chain reordered:  lines are all genuine but no longer in the order they were written;
- segment missing:  a segment the chain holds is gone without a prune line saying it expired;
- content changed:  a segment's bytes no longer hash to what was recorded;
- pruned inside retention: a prune line (genuine or forged) deleted a segment before its retention ended, under
                    a retention below the legal floor, or is dated in the future.

Not breaks, but reported: segment files the manifest does not list (the one being written, or one left by a
crash before it was recorded; the recorder adopts those when it restarts) and a torn last line (a crash while
writing it). Cutting lines off the END of the chain cannot be seen from the volume alone: compare the printed
head with the last head the recorder logged.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camfleet.recorder.manifest import GENESIS, PRUNE, SEGMENT, chain_hash, from_timestamp, read_lines
from camfleet.recorder.retention import RETENTION_FLOOR_DAYS, SECONDS_PER_DAY, is_expired
from camfleet.recorder.storage import MANIFEST_NAME, file_digest, segment_files, segments_dir

CONTENT_CHANGED = "content changed"
SEGMENT_MISSING = "segment missing"
ENTRY_ALTERED = "entry altered"
ENTRY_REMOVED = "entry removed"
CHAIN_REORDERED = "chain reordered"
PRUNED_EARLY = "pruned inside retention"
_REQUIRED = {SEGMENT: ("name", "size", "sha256", "start", "end"), PRUNE: ("name", "pruned_at", "retention_seconds")}
# A prune dated in the future is forged; allow for the verifying machine's clock being a little behind.
_CLOCK_SLACK_SECONDS = SECONDS_PER_DAY


@dataclass(frozen=True)
class Break:
    segment: str  # the segment named by the line where the chain breaks ("line N" when it names none)
    kind: str
    detail: str


@dataclass
class Verdict:
    segments: int = 0
    pruned: int = 0
    head: str = GENESIS
    first_break: Break | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.first_break is None


@dataclass
class _Walk:
    """What the walk down the chain has established so far."""

    prev: str = GENESIS
    seq: int = 1
    previous_name: str = ""
    ends: dict[str, float] = field(default_factory=dict)  # segment name -> end time, for the lines seen so far


def verify(data_dir: Path, now: float | None = None) -> Verdict:
    now = time.time() if now is None else now
    lines, torn = read_lines(data_dir / MANIFEST_NAME)
    verdict = Verdict()
    if torn:
        verdict.notes.append("the last manifest line is torn (a crash while writing it); it is not counted")
    pruned = {str(line.get("name")) for line in lines if line and line.get("kind") == PRUNE}
    walk = _Walk()
    verdict.first_break = _walk_chain(data_dir, lines, pruned, walk, verdict, now)
    if verdict.first_break is not None:
        return verdict
    verdict.head = walk.prev
    verdict.notes.extend(_leftovers(data_dir, walk, pruned))
    return verdict


def _walk_chain(
    data_dir: Path,
    lines: list[dict[str, Any] | None],
    pruned: set[str],
    walk: _Walk,
    verdict: Verdict,
    now: float,
) -> Break | None:
    """Follow the chain line by line, counting into `verdict`; the first break, or None."""
    seqs = {line.get("seq") for line in lines if line}
    for position, line in enumerate(lines, start=1):
        if line is None:
            return Break(f"line {position}", ENTRY_ALTERED, "not a JSON object")
        found = (
            _malformed(line, position, walk)
            or _link(line, walk, seqs)
            or _content(data_dir, line, pruned)
            or _prune_too_early(line, walk, now)
        )
        if found is not None:
            return found
        name = str(line["name"])
        if line["kind"] == SEGMENT:
            verdict.segments += 1
            walk.ends[name] = from_timestamp(str(line["end"]))
        else:
            verdict.pruned += 1
        walk.prev, walk.seq, walk.previous_name = str(line["chain"]), int(line["seq"]) + 1, name
    return None


def _leftovers(data_dir: Path, walk: _Walk, pruned: set[str]) -> list[str]:
    """Notes on files that are not breaks: unlisted segments, and pruned ones still on disk."""
    notes = []
    unlisted = [name for name in segment_files(data_dir) if name not in walk.ends]
    if unlisted:
        notes.append(f"not in the manifest (being written, or left by a crash): {', '.join(unlisted)}")
    leftover = sorted(name for name in pruned if (segments_dir(data_dir) / name).exists())
    if leftover:
        notes.append(f"pruned but still on disk (deletion interrupted): {', '.join(leftover)}")
    return notes


def _malformed(line: Mapping[str, Any], position: int, walk: _Walk) -> Break | None:
    label = str(line.get("name") or f"line {position}")
    kind = str(line.get("kind"))
    required = ("seq", "prev", "chain", *_REQUIRED.get(kind, ()))
    if kind not in _REQUIRED or any(key not in line for key in required) or not isinstance(line["seq"], int):
        return Break(label, ENTRY_ALTERED, "fields are missing or of the wrong kind")
    if "/" in label or label.startswith("."):
        return Break(label, ENTRY_ALTERED, "the segment name is not a plain file name")
    if chain_hash(str(line["prev"]), line) != line["chain"]:
        return Break(label, ENTRY_ALTERED, "the line no longer matches its chain hash")
    if kind == PRUNE and label not in walk.ends:
        return Break(label, ENTRY_ALTERED, "a prune line for a segment the chain does not hold before it")
    try:
        from_timestamp(str(line["end" if kind == SEGMENT else "pruned_at"]))
    except ValueError:
        return Break(label, ENTRY_ALTERED, "a time is not an ISO 8601 timestamp")
    return None


def _link(line: Mapping[str, Any], walk: _Walk, seqs: set[Any]) -> Break | None:
    name, seq = str(line["name"]), int(line["seq"])
    if line["prev"] == walk.prev:
        if seq != walk.seq:
            return Break(name, ENTRY_ALTERED, f"sequence number {seq} where {walk.seq} was due")
        return None
    if seq == walk.seq:
        # This line is genuine and in its place, so the one before it was rewritten with a fresh hash.
        return Break(walk.previous_name or name, ENTRY_ALTERED, f"line {seq - 1} was rewritten after line {seq}")
    if seq < walk.seq or walk.seq in seqs:
        return Break(name, CHAIN_REORDERED, f"line {seq} appears where line {walk.seq} was due")
    return Break(name, ENTRY_REMOVED, f"lines {walk.seq} to {seq - 1} are missing before it")


def _content(data_dir: Path, line: Mapping[str, Any], pruned: set[str]) -> Break | None:
    name = str(line["name"])
    if line["kind"] != SEGMENT or name in pruned:
        return None
    path = segments_dir(data_dir) / name
    if not path.is_file():
        return Break(name, SEGMENT_MISSING, "deleted without a prune line")
    size, sha256 = file_digest(path)
    if sha256 != line["sha256"] or size != line["size"]:
        recorded = f"{str(line['sha256'])[:16]}... ({line['size']} bytes)"
        return Break(name, CONTENT_CHANGED, f"sha256 {sha256[:16]}... ({size} bytes), recorded {recorded}")
    return None


def _prune_too_early(line: Mapping[str, Any], walk: _Walk, now: float) -> Break | None:
    if line["kind"] != PRUNE:
        return None
    name = str(line["name"])
    pruned_at = from_timestamp(str(line["pruned_at"]))
    retention = float(line["retention_seconds"])
    if retention < RETENTION_FLOOR_DAYS * SECONDS_PER_DAY:
        return Break(name, PRUNED_EARLY, f"retention of {retention / SECONDS_PER_DAY:g} days is below the legal floor")
    if not is_expired(walk.ends[name], pruned_at, retention):
        return Break(name, PRUNED_EARLY, f"deleted at {line['pruned_at']}, before its retention ended")
    if pruned_at > now + _CLOCK_SLACK_SECONDS:
        return Break(name, PRUNED_EARLY, f"the prune is dated {line['pruned_at']}, in the future")
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="camfleet verify", description=__doc__.split("\n", 1)[0])
    parser.add_argument("data_dir", type=Path, help="the recording folder (holds manifest.jsonl and segments/)")
    args = parser.parse_args(argv)
    if not (args.data_dir / MANIFEST_NAME).is_file():
        print(f"no manifest in {args.data_dir}", file=sys.stderr)
        return 2
    verdict = verify(args.data_dir)
    for note in verdict.notes:
        print(f"note: {note}")
    if verdict.first_break is not None:
        broken = verdict.first_break
        print(f"chain broken at {broken.segment}: {broken.kind} ({broken.detail})")
        return 1
    print(f"chain intact: {verdict.segments} segments ({verdict.pruned} pruned), head {verdict.head}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
