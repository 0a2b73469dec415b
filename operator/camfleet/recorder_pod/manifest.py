"""The hash-chained manifest: one JSON line per completed segment and per deletion, append-only.

Each line carries `seq` (1, 2, 3, ...), `prev` (the previous line's chain hash; 64 zeros for the first) and
`chain` = sha256(prev || canonical JSON of every other field of the line), so the content hash of every segment
is bound to everything recorded before it. Changing a segment's bytes, deleting it, editing, dropping or
reordering lines is detected by `camfleet verify`.

Deleting a segment after its retention appends a `prune` line instead of removing anything: the segment's own
line stays, so the chain still verifies after the file is gone, and the prune line says when and under which
retention it went.

Every line records the policy in force when it was written: `retentionDays`, `legalHold` and `written` (the
recorder's clock when the line was appended). When the recorder starts under another retention or hold than the
chain last recorded, it appends a `policy` line first, so a change of policy (a hold lifted, a retention
lowered) is itself part of the history. `camfleet verify` judges every prune against the largest retention in
force since the segment was written and against the hold in force. Chains written before these fields existed
are still read: a missing retention counts as the 30-day floor and a missing hold as unknown.

A chain without a secret can be rebuilt by whoever can rewrite the whole volume; the recorder therefore logs
the chain head after every segment and serves it on `/chain`, from where the operator checkpoints it, signed,
outside the pod (checkpoint.py); `camfleet verify --checkpoint` then detects a truncated or rewritten tail.

Durability: a line is written with one append and fsynced before the recorder moves on, so a crash loses at most
the line being written; a torn last line is cut off when the recorder next opens the manifest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from camfleet.recorder_pod.retention import RETENTION_FLOOR_DAYS, SECONDS_PER_DAY
from camfleet.recorder_pod.storage import MANIFEST_NAME, fsync_path

GENESIS = "0" * 64
SEGMENT = "segment"
PRUNE = "prune"
POLICY = "policy"
RETENTION_DAYS = "retentionDays"
LEGAL_HOLD = "legalHold"
WRITTEN = "written"
# Line hashes kept in memory for `/chain?seq=N`: a day of one-minute segments and their prunes, ~300 KB.
RECENT_LINES = 4096

log = logging.getLogger(__name__)


def to_timestamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def from_timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def chain_hash(prev: str, fields: Mapping[str, Any]) -> str:
    """sha256(prev || canonical JSON of the line without its own `chain`)."""
    body = {key: value for key, value in fields.items() if key != "chain"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev + canonical).encode()).hexdigest()


@dataclass(frozen=True)
class Policy:
    """The retention and hold in force when a line was written (None: the line predates these fields)."""

    retention_days: float | None
    legal_hold: bool | None

    def fields(self) -> dict[str, Any]:
        return {RETENTION_DAYS: self.retention_days, LEGAL_HOLD: self.legal_hold}


def policy_of(line: Mapping[str, Any]) -> Policy:
    retention = line.get(RETENTION_DAYS)
    hold = line.get(LEGAL_HOLD)
    return Policy(
        float(retention) if isinstance(retention, int | float) and not isinstance(retention, bool) else None,
        hold if isinstance(hold, bool) else None,
    )


@dataclass(frozen=True)
class Head:
    """The chain's last line: what the recorder serves on `/chain` and the operator checkpoints."""

    seq: int
    chain: str
    written: str | None


@dataclass(frozen=True)
class Segment:
    """A segment as its manifest line records it (the recorder's chain and a footage export read the same)."""

    seq: int
    name: str
    size: int
    sha256: str
    start: float
    end: float
    recovered: bool = False  # adopted after a crash: its times are when it was found, not when it was recorded


def segment_from_line(line: Mapping[str, Any]) -> Segment:
    """The one reading of a `segment` line."""
    return Segment(
        seq=int(line["seq"]),
        name=str(line["name"]),
        size=int(line["size"]),
        sha256=str(line["sha256"]),
        start=from_timestamp(str(line["start"])),
        end=from_timestamp(str(line["end"])),
        recovered=bool(line.get("recovered", False)),
    )


def read_lines(path: Path) -> tuple[list[dict[str, Any] | None], bool]:
    """The manifest's lines as parsed JSON objects (None where a line is not one), and whether the last is torn."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], False
    torn = bool(raw) and not raw.endswith(b"\n")
    if torn:
        raw = raw[: raw.rfind(b"\n") + 1]
    return [_parse(text) for text in raw.decode("utf-8", errors="replace").splitlines()], torn


def _parse(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Manifest:
    """The recorder's writer: the in-memory view of the chain plus fsynced appends."""

    def __init__(self, path: Path, lines: list[dict[str, Any]]) -> None:
        self.path = path
        self._segments: dict[str, Segment] = {}
        self._pruned: set[str] = set()
        self.head = GENESIS
        self.next_seq = 1
        self.written: str | None = None
        # (seq, chain hash) of the last lines, for `/chain?seq=N`: the operator asks whether the line it last
        # signed still has the hash it signed (a restarted recorder on a rewritten chain answers otherwise).
        self._recent: deque[tuple[int, str]] = deque(maxlen=RECENT_LINES)
        # What the chain last recorded; the recorder's own policy once it called `enforce`.
        self.recorded_policy = Policy(None, None)
        self.policy = Policy(RETENTION_FLOOR_DAYS, False)
        for line in lines:
            self._remember(line)

    @classmethod
    def open(cls, data_dir: Path) -> Manifest:
        path = data_dir / MANIFEST_NAME
        lines, torn = read_lines(path)
        if torn:
            # Only the line being written when the process died; its segment is adopted again as unlisted.
            keep = path.read_bytes().rfind(b"\n") + 1
            log.warning("manifest: cutting off a torn last line left by a crash (%d bytes kept)", keep)
            os.truncate(path, keep)
        unreadable = sum(1 for line in lines if line is None)
        if unreadable:
            log.error("manifest: %d unreadable lines; run `camfleet verify` on %s", unreadable, data_dir)
        return cls(path, [line for line in lines if line is not None])

    def _remember(self, line: Mapping[str, Any]) -> None:
        try:
            if line.get("kind") == SEGMENT:
                segment = segment_from_line(line)
                self._segments[segment.name] = segment
            elif line.get("kind") == PRUNE:
                self._pruned.add(str(line["name"]))
            if RETENTION_DAYS in line or LEGAL_HOLD in line:
                self.recorded_policy = policy_of(line)
            self.head = str(line["chain"])
            self.next_seq = int(line["seq"]) + 1
            self._recent.append((self.next_seq - 1, self.head))
            self.written = str(line[WRITTEN]) if WRITTEN in line else None
        except (KeyError, TypeError, ValueError):
            log.error("manifest: line %s is malformed; run `camfleet verify`", line.get("seq", "?"))

    def _append(self, fields: dict[str, Any]) -> dict[str, Any]:
        line = {"seq": self.next_seq, "prev": self.head, **fields}
        line["chain"] = chain_hash(self.head, line)
        data = (json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n").encode()
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_path(self.path.parent)
        self._remember(line)
        return line

    def chain_at(self, seq: int) -> str | None:
        """The chain hash of line `seq` if it is among the last `RECENT_LINES` lines, else None."""
        if not self._recent or not self._recent[0][0] <= seq <= self._recent[-1][0]:
            return None
        found = self._recent[seq - self._recent[0][0]]  # seqs are consecutive in any chain the recorder appends
        return found[1] if found[0] == seq else next((c for s, c in self._recent if s == seq), None)

    def head_line(self) -> Head:
        return Head(self.next_seq - 1, self.head, self.written)

    def enforce(self, policy: Policy, now: float) -> bool:
        """From now on lines record `policy`; a `policy` line marks a change from what the chain last recorded."""
        self.policy = policy
        if self.next_seq == 1 or policy == self.recorded_policy:
            return False
        self._append({"kind": POLICY, **policy.fields(), WRITTEN: to_timestamp(now)})
        return True

    def record_segment(
        self,
        name: str,
        size: int,
        sha256: str,
        start: float,
        end: float,
        recovered: bool,
        written: float | None = None,
    ) -> Segment:
        """Append a segment line; `written` is the recorder's clock now (the segment's end when not given)."""
        fields: dict[str, Any] = {
            "kind": SEGMENT,
            "name": name,
            "size": size,
            "sha256": sha256,
            "start": to_timestamp(start),
            "end": to_timestamp(end),
            **self.policy.fields(),
            WRITTEN: to_timestamp(end if written is None else written),
        }
        if recovered:
            fields["recovered"] = True  # found on disk after a crash; its times come from the file, not ffmpeg
        self._append(fields)
        return self._segments[name]

    def record_prune(self, name: str, pruned_at: float, retention_seconds: float) -> None:
        self._append(
            {
                "kind": PRUNE,
                "name": name,
                "pruned_at": to_timestamp(pruned_at),
                "retention_seconds": retention_seconds,
                RETENTION_DAYS: retention_seconds / SECONDS_PER_DAY,
                LEGAL_HOLD: self.policy.legal_hold,
                WRITTEN: to_timestamp(pruned_at),
            }
        )

    def knows(self, name: str) -> bool:
        return name in self._segments

    def recorded_names(self) -> list[str]:
        """Every segment name the chain holds, pruned or not, in chain order."""
        return list(self._segments)

    def live_segments(self) -> list[Segment]:
        """Recorded segments not yet pruned, oldest first."""
        return [segment for name, segment in self._segments.items() if name not in self._pruned]

    def pruned_names(self) -> Iterator[str]:
        return iter(sorted(self._pruned))
