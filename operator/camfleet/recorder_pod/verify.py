"""`camfleet verify DIR`: recompute every segment's hash and the chain, and name the first broken link.

Kinds of break, in the order a reader would look for them; each is named with its line number and segment:

- entry altered:    a manifest line no longer matches its own chain hash, or a line was rewritten with a fresh
                    hash so the next line's link to it breaks;
- entry removed:    lines are missing from the middle of the chain (a gap in `seq`);
- chain reordered:  lines are all genuine but no longer in the order they were written;
- segment missing:  a segment the chain holds is gone without a prune line saying it expired;
- content changed:  a segment's bytes no longer hash to what was recorded;
- non-monotonic time: a line written before the line ahead of it, a segment that ends before it starts, or a
                    line dated in the future;
- back-dated append: a segment that starts before the previous segment ended, or that ended long before its line
                    was written (both beyond a small tolerance);
- reused name:      a segment name the chain already holds (pruned or not) recorded again;
- early deletion:   a prune line (genuine or forged) deleted a segment before the end of the LARGEST retention in
                    force since the segment was written, while a legal hold was in force, under a retention below
                    the legal floor;
- tail truncated / tail rewritten: with `--checkpoint`, the chain ends before the line a signed checkpoint saw, or
                    that line now has another hash; with `--camera NS/NAME`, against every checkpoint the
                    operator keeps for the camera (ConfigMap `NAME-chain`), contradicted ones first.

Not breaks, but reported: segment files the manifest does not list (the one being written, or one left by a
crash before it was recorded; the recorder adopts those when it restarts), a torn last line (a crash while
writing it), lines written before the chain recorded retention and hold (judged against the 30-day floor, hold
unknown), and every lifted hold or lowered retention (to compare with the authority's own record). Cutting lines
off the END of the chain cannot be seen from the volume alone: pass the operator's signed checkpoint.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camfleet.recorder_pod.checkpoint import (
    Checkpoint,
    CheckpointError,
    camera_anchors,
    load_checkpoint,
    load_public_keys,
)
from camfleet.recorder_pod.manifest import (
    GENESIS,
    POLICY,
    PRUNE,
    SEGMENT,
    WRITTEN,
    chain_hash,
    from_timestamp,
    policy_of,
    read_lines,
    to_timestamp,
)
from camfleet.recorder_pod.retention import RETENTION_FLOOR_DAYS, SECONDS_PER_DAY, expires_at, is_expired
from camfleet.recorder_pod.storage import MANIFEST_NAME, file_digest, segment_files, segments_dir

CONTENT_CHANGED = "content changed"
SEGMENT_MISSING = "segment missing"
ENTRY_ALTERED = "entry altered"
ENTRY_REMOVED = "entry removed"
CHAIN_REORDERED = "chain reordered"
PRUNED_EARLY = "early deletion"
BACK_DATED = "back-dated append"
REUSED_NAME = "reused name"
NON_MONOTONIC = "non-monotonic time"
TAIL_TRUNCATED = "tail truncated"
TAIL_REWRITTEN = "tail rewritten"
_REQUIRED = {
    SEGMENT: ("name", "size", "sha256", "start", "end"),
    PRUNE: ("name", "pruned_at", "retention_seconds"),
    POLICY: ("retentionDays", "legalHold", WRITTEN),
}
# A line dated in the future is forged; allow for the verifying machine's clock being a little behind.
_CLOCK_SLACK_SECONDS = SECONDS_PER_DAY
# Segment times come from the recorder's clock when ffmpeg lists a segment, minus its duration; sealing a segment
# (waiting for ffmpeg to close it, hashing it) and a housekeeping prune in between may put a line a few seconds
# behind the one before it. Two minutes covers that with room; a forgery back-dated by hours or days does not fit.
TIME_TOLERANCE_SECONDS = 120.0


@dataclass(frozen=True)
class Break:
    segment: str  # the segment named by the line where the chain breaks ("line N" when it names none)
    kind: str
    detail: str
    line: int = 0  # the manifest line number (1-based) where it breaks


@dataclass
class Verdict:
    segments: int = 0
    pruned: int = 0
    head: str = GENESIS
    seq: int = 0
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
    written_at: dict[str, int] = field(default_factory=dict)  # segment name -> its line number
    last_end: tuple[str, float] | None = None  # the previous segment line: name, end
    last_time: float | None = None  # when the previous line was written
    # Retention in force (days; None: not recorded) from each line on where it changed: (line, days).
    retentions: list[tuple[int, float | None]] = field(default_factory=list)
    hold: bool | None = None
    hold_line: int = 0
    unrecorded: int = 0  # segment and prune lines written before the chain recorded retention and hold
    changes: list[str] = field(default_factory=list)  # lifted holds, lowered retentions


def verify(data_dir: Path, now: float | None = None, checkpoint: Checkpoint | None = None) -> Verdict:
    """Walk the chain; with a (signature-checked) checkpoint, also judge the tail against it."""
    now = time.time() if now is None else now
    lines, torn = read_lines(data_dir / MANIFEST_NAME)
    verdict = Verdict()
    if torn:
        verdict.notes.append("the last manifest line is torn (a crash while writing it); it is not counted")
    pruned = {str(line.get("name")) for line in lines if line and line.get("kind") == PRUNE}
    walk = _Walk()
    verdict.first_break = _walk_chain(data_dir, lines, pruned, walk, verdict, now)
    if verdict.first_break is None and checkpoint is not None:
        verdict.first_break = _against_checkpoint(lines, checkpoint)
    if verdict.first_break is not None:
        return verdict
    verdict.head, verdict.seq = walk.prev, walk.seq - 1
    verdict.notes.extend(_policy_notes(walk))
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
            return Break(f"line {position}", ENTRY_ALTERED, "not a JSON object", position)
        found = (
            _malformed(line, position, walk)
            or _link(line, walk, seqs)
            or _content(data_dir, line, pruned)
            or _times(line, position, walk, now)
            or _reused(line, walk)
            or _prune_too_early(line, position, walk)
        )
        if found is not None:
            return Break(found.segment, found.kind, found.detail, position)
        _advance(line, position, walk, verdict)
    return None


def _advance(line: Mapping[str, Any], position: int, walk: _Walk, verdict: Verdict) -> None:
    name = _label(line, position)
    if line["kind"] == SEGMENT:
        verdict.segments += 1
        end = from_timestamp(str(line["end"]))
        walk.ends[name], walk.written_at[name], walk.last_end = end, position, (name, end)
    elif line["kind"] == PRUNE:
        verdict.pruned += 1
    _remember_policy(line, position, walk)
    walk.last_time = _line_time(line)
    walk.prev, walk.seq, walk.previous_name = str(line["chain"]), int(line["seq"]) + 1, name


def _remember_policy(line: Mapping[str, Any], position: int, walk: _Walk) -> None:
    """Track the retention and hold in force, and note every change that weakens them."""
    policy = policy_of(line)
    if policy.retention_days is None and policy.legal_hold is None:
        walk.unrecorded += 1
    current = walk.retentions[-1][1] if walk.retentions else None
    if not walk.retentions or policy.retention_days != current:
        if current is not None and policy.retention_days is not None and policy.retention_days < current:
            walk.changes.append(
                f"retention lowered from {current:g} to {policy.retention_days:g} days at line {position}"
                f" (written {line.get(WRITTEN, '?')}); prunes are still judged against {current:g} days"
            )
        walk.retentions.append((position, policy.retention_days))
    if policy.legal_hold is not None:
        if walk.hold and not policy.legal_hold:
            walk.changes.append(
                f"legal hold lifted at line {position} (written {line.get(WRITTEN, '?')}); "
                "compare with the hold authority's record"
            )
        if policy.legal_hold != walk.hold:
            walk.hold_line = position
        walk.hold = policy.legal_hold


def _policy_notes(walk: _Walk) -> list[str]:
    notes = list(walk.changes)
    if walk.unrecorded:
        notes.append(
            f"{walk.unrecorded} lines predate recorded retention and hold: judged against the "
            f"{RETENTION_FLOOR_DAYS}-day floor, hold unknown"
        )
    return notes


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


def _label(line: Mapping[str, Any], position: int) -> str:
    return str(line.get("name") or f"line {position}")


def _malformed(line: Mapping[str, Any], position: int, walk: _Walk) -> Break | None:
    label = _label(line, position)
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
        _line_time(line)
        if kind == SEGMENT:
            from_timestamp(str(line["start"]))
        float(line.get("retentionDays") or 0)
    except (TypeError, ValueError):
        return Break(label, ENTRY_ALTERED, "a time or a retention is not readable")
    return None


def _line_time(line: Mapping[str, Any]) -> float:
    """When the line was written: its `written`, or for older lines the segment's end or the prune's time."""
    if WRITTEN in line:
        return from_timestamp(str(line[WRITTEN]))
    return from_timestamp(str(line["end" if line["kind"] == SEGMENT else "pruned_at"]))


def _link(line: Mapping[str, Any], walk: _Walk, seqs: set[Any]) -> Break | None:
    name, seq = _label(line, int(line["seq"])), int(line["seq"])
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
    name = str(line.get("name"))
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


def _times(line: Mapping[str, Any], position: int, walk: _Walk, now: float) -> Break | None:
    """Lines are written in time order, never in the future; a segment fits after the one before it."""
    label, written = _label(line, position), _line_time(line)
    if walk.last_time is not None and written < walk.last_time - TIME_TOLERANCE_SECONDS:
        return Break(
            label, NON_MONOTONIC, f"written {_iso(written)}, before line {position - 1} ({_iso(walk.last_time)})"
        )
    if written > now + _CLOCK_SLACK_SECONDS:
        return Break(label, NON_MONOTONIC, f"the line is dated {_iso(written)}, in the future")
    if line["kind"] == PRUNE and from_timestamp(str(line["pruned_at"])) > now + _CLOCK_SLACK_SECONDS:
        return Break(label, NON_MONOTONIC, f"the prune is dated {line['pruned_at']}, in the future")
    if line["kind"] != SEGMENT:
        return None
    start, end = from_timestamp(str(line["start"])), from_timestamp(str(line["end"]))
    if end < start:
        return Break(label, NON_MONOTONIC, f"it ends ({line['end']}) before it starts ({line['start']})")
    if walk.last_end is not None and start < walk.last_end[1] - TIME_TOLERANCE_SECONDS:
        previous, previous_end = walk.last_end
        return Break(label, BACK_DATED, f"it starts {line['start']}, before {previous} ended ({_iso(previous_end)})")
    if end < written - TIME_TOLERANCE_SECONDS:
        return Break(label, BACK_DATED, f"it ended {line['end']}, long before its line was written ({_iso(written)})")
    return None


def _reused(line: Mapping[str, Any], walk: _Walk) -> Break | None:
    name = str(line.get("name"))
    if line["kind"] == SEGMENT and name in walk.ends:
        return Break(name, REUSED_NAME, f"the name was already recorded at line {walk.written_at[name]}")
    return None


def _largest_retention_since(walk: _Walk, position: int, own: float) -> tuple[float, int]:
    """The largest retention (days) in force from line `position` on, and the line that set it."""
    lines = [line for line, _ in walk.retentions]
    first = max(bisect.bisect_right(lines, position) - 1, 0)
    best, best_line = own, 0
    for line, days in walk.retentions[first:]:
        value = RETENTION_FLOOR_DAYS if days is None else days
        if value > best:
            best, best_line = value, max(line, position)
    return best, best_line


def _prune_too_early(line: Mapping[str, Any], position: int, walk: _Walk) -> Break | None:
    if line["kind"] != PRUNE:
        return None
    name = str(line["name"])
    pruned_at = from_timestamp(str(line["pruned_at"]))
    own = policy_of(line)
    retention = (
        own.retention_days if own.retention_days is not None else float(line["retention_seconds"]) / SECONDS_PER_DAY
    )
    if retention < RETENTION_FLOOR_DAYS:
        return Break(name, PRUNED_EARLY, f"retention of {retention:g} days is below the legal floor")
    if walk.hold or own.legal_hold:
        since = walk.hold_line if walk.hold else position
        return Break(
            name, PRUNED_EARLY, f"deleted at {line['pruned_at']} under the legal hold in force since line {since}"
        )
    largest, since = _largest_retention_since(walk, walk.written_at[name], retention)
    end = walk.ends[name]
    if not is_expired(end, pruned_at, largest * SECONDS_PER_DAY):
        source = f"in force at line {since}" if since else "of the prune line"
        return Break(
            name,
            PRUNED_EARLY,
            f"deleted at {line['pruned_at']}, before the retention of {largest:g} days {source} "
            f"ended ({_iso(expires_at(end, largest * SECONDS_PER_DAY))})",
        )
    return None


def _against_checkpoint(lines: list[dict[str, Any] | None], checkpoint: Checkpoint) -> Break | None:
    """An intact chain must still hold the line the checkpoint saw, with the hash it saw."""
    last = len(lines)
    seen = f"the checkpoint signed at {checkpoint.time} saw line {checkpoint.seq} with head {checkpoint.head[:16]}..."
    if last < checkpoint.seq:
        return Break(f"line {last + 1}", TAIL_TRUNCATED, f"the chain ends at line {last}; {seen}", last + 1)
    line = lines[checkpoint.seq - 1] if checkpoint.seq > 0 else None
    if line is not None and line["chain"] != checkpoint.head:
        label = _label(line, checkpoint.seq)
        return Break(label, TAIL_REWRITTEN, f"its hash is {str(line['chain'])[:16]}...; {seen}", checkpoint.seq)
    return None


def _iso(moment: float) -> str:
    return to_timestamp(moment)


def _load_checkpoints(args: argparse.Namespace) -> list[Checkpoint]:
    """The signature-checked checkpoints to judge the tail against: none, `--checkpoint`, or `--camera`'s."""
    if args.camera is not None:
        found, keys = camera_anchors(args.camera, args.keys, args.operator_namespace, args.keys_secret)
    elif args.checkpoint is not None:
        if args.keys is None:
            raise CheckpointError("--checkpoint needs --keys (the operator's public keys, JWKS)")
        found = [load_checkpoint(json.loads(args.checkpoint.read_text()))]
        keys = load_public_keys(args.keys.read_text())
    else:
        return []
    for checkpoint in found:
        checkpoint.check_signature(keys)
    return found


def _verify_against(data_dir: Path, checkpoints: list[Checkpoint]) -> tuple[Verdict, Checkpoint | None]:
    """The first checkpoint the chain contradicts (contradicted ones first), else the verdict against the last."""
    if not checkpoints:
        return verify(data_dir), None
    for checkpoint in checkpoints:
        verdict, anchor = verify(data_dir, checkpoint=checkpoint), checkpoint
        if verdict.first_break is not None:
            break
    return verdict, anchor


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="camfleet verify", description=__doc__.split("\n", 1)[0])
    parser.add_argument("data_dir", type=Path, help="the recording folder (holds manifest.jsonl and segments/)")
    parser.add_argument("--checkpoint", type=Path, help="a signed chain checkpoint (JSON) taken by the operator")
    parser.add_argument("--keys", type=Path, help="the operator's public keys (JWKS) to check the checkpoint with")
    parser.add_argument(
        "--camera",
        metavar="NAMESPACE/NAME",
        help="check against the operator's checkpoints of this camera (ConfigMap NAME-chain, your kubeconfig); "
        "keys from --keys, else the operator's signing-keys Secret",
    )
    parser.add_argument("--operator-namespace", default="camfleet-system", help="where the signing-keys Secret is")
    parser.add_argument("--keys-secret", default="camfleet-signing-keys", help="the signing-keys Secret's name")
    args = parser.parse_args(argv)
    if not (args.data_dir / MANIFEST_NAME).is_file():
        print(f"no manifest in {args.data_dir}", file=sys.stderr)
        return 2
    try:
        checkpoints = _load_checkpoints(args)
    except (CheckpointError, OSError, ValueError) as error:
        print(f"checkpoint refused: {error}")
        return 3
    verdict, checkpoint = _verify_against(args.data_dir, checkpoints)
    for note in verdict.notes:
        print(f"note: {note}")
    if verdict.first_break is not None:
        broken = verdict.first_break
        print(f"chain broken at {broken.segment}: {broken.kind} ({broken.detail}) [line {broken.line}]")
        return 1
    anchored = f", matches the checkpoint of {checkpoint.time} (line {checkpoint.seq})" if checkpoint else ""
    print(
        f"chain intact: {verdict.segments} segments ({verdict.pruned} pruned), "
        f"head {verdict.head} at line {verdict.seq}{anchored}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
