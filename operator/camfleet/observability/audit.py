"""The audit trail (R16): one structured JSON record per decision, approval, credential issue, revocation,
export and destruction of recordings: who, when, what, which object, outcome, reason.

Records go to the dedicated logger `camfleet.audit`, one JSON object per line, so a log pipeline can
route them to tamper-evident storage apart from the operator's diagnostic log.

Writing is off the caller's path: `configure_audit_log` gives the logger a handler that queues the finished
line, and a thread of its own writes and flushes whatever has queued (one write per batch: at once after a
quiet spell, then at most every `WRITE_EVERY` seconds), so that a slow log pipe or a disk under writeback never
stalls the event loop that took the decision. The queue is drained at exit and by `flush_audit_log`.
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

AUDIT_LOGGER = "camfleet.audit"
_log = logging.getLogger(AUDIT_LOGGER)
WRITE_EVERY = 0.05
"""Seconds the writer pauses after a write before it takes the next batch. The writer must not wake per record:
a thread woken 1,000 times a second takes the interpreter lock as often, and the event loop then waits for it
to hand the lock back (up to the 5 ms switch interval) in the middle of answering requests. The first record
after a quiet spell is written at once; under load the writer wakes at most 20 times a second."""


class _AuditLine(str):
    """A record `audit()` finished (a JSON object, sorted): the formatter passes it through unparsed."""

    __slots__ = ()


def audit(
    action: str, obj: str, outcome: str, reason: str = "", actor: str = "camfleet-operator", **details: Any
) -> dict[str, Any]:
    """Write one audit record and return it. `obj` is `Kind namespace/name`; never pass a secret in `details`."""
    record = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "actor": actor,
        "action": action,
        "object": obj,
        "outcome": outcome,
        "reason": reason,
        **details,
    }
    _log.info(_AuditLine(json.dumps(record, sort_keys=True, default=str)))
    return record


# The attributes every LogRecord has; whatever else a record carries came from `extra=` and belongs in the line.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# The fields R16 promises in every record: who, when, what, which object, outcome, why.
REQUIRED_FIELDS = ("time", "actor", "action", "object", "outcome", "reason")


class AuditFormatter(logging.Formatter):
    """Every record on the audit logger as one complete JSON line, however it was logged.

    `audit()` hands over a finished JSON object, which passes through. A plain `log.info(message, extra={...})`
    (the retention janitor once logged "recordings destroyed" this way, and a `%(message)s` format dropped its
    action, object and reason) becomes a record too: its extra fields, the message, and the required fields
    that are missing filled in, so no record reads as a bare sentence."""

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, _AuditLine) and not record.args and not record.exc_info:
            return str(record.msg)  # complete already: parsing and dumping it again would cost as much once more
        message = record.getMessage()
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None
        fields: dict[str, Any] = dict(parsed) if isinstance(parsed, dict) else {"message": message}
        fields.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES})
        fields.setdefault("time", datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"))
        fields.setdefault("actor", "camfleet-operator")
        fields.setdefault("action", fields.get("message", ""))
        fields.setdefault("object", "")
        fields.setdefault("outcome", "")
        fields.setdefault("reason", "")
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return json.dumps(fields, sort_keys=True, default=str)


def configure_audit_log(stream: Any = None) -> None:
    """Audit records as complete JSON lines on their own handler, not mixed into the diagnostic format, written by
    a background thread."""
    handler = BackgroundLineHandler(stream or sys.stdout)
    handler.setFormatter(AuditFormatter())
    _log.addHandler(handler)
    _log.setLevel(logging.INFO)
    _log.propagate = False


def flush_audit_log() -> None:
    """Wait until every audit record handed over so far is written."""
    for handler in _log.handlers:
        handler.flush()


class BackgroundLineHandler(logging.Handler):
    """Formats on the caller's thread (cheap), and writes and flushes `stream` on a daemon thread: at once when a
    record arrives after a quiet spell, then in batches at most every `write_every` seconds (at once again when
    asked to flush or close)."""

    def __init__(self, stream: Any, write_every: float = WRITE_EVERY) -> None:
        super().__init__()
        self.stream = stream
        self._write_every = write_every
        self._lines: deque[str | None] = deque()  # appends and pops are atomic: no lock on the caller's path
        self._queued = 0
        self._written = 0
        self._wake = threading.Event()  # lines are waiting
        self._hurry = threading.Event()  # someone waits for them: no pause
        self._done = threading.Condition()
        self._writer = threading.Thread(target=self._write_lines, name="audit log writer", daemon=True)
        self._writer.start()
        atexit.register(self.close)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:  # logging must not raise into the caller
            self.handleError(record)
            return
        self._queued += 1  # emit runs under the handler's lock
        self._lines.append(line)
        if not self._wake.is_set():  # once per batch: the writer is woken at most once per pause
            self._wake.set()

    def flush(self) -> None:
        """Wait until every line queued so far is written."""
        target = self._queued
        self._hurry.set()
        self._wake.set()
        with self._done:
            self._done.wait_for(lambda: self._written >= target or not self._writer.is_alive(), timeout=10)

    def close(self) -> None:
        if self._writer.is_alive():
            self.flush()
            self._lines.append(None)
            self._hurry.set()
            self._wake.set()
            self._writer.join(timeout=10)
        super().close()

    def _write_lines(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            lines: list[str] = []
            closing = False
            while self._lines:
                line = self._lines.popleft()
                if line is None:
                    closing = True
                else:
                    lines.append(line)
            if lines:
                self._write(lines)
            if closing:
                return
            self._hurry.wait(self._write_every)  # let the next batch gather
            self._hurry.clear()

    def _write(self, lines: list[str]) -> None:
        try:
            self.stream.write("".join(lines))
            self.stream.flush()
        except Exception:  # as StreamHandler: report on stderr, keep going
            print("camfleet: the audit log could not be written", file=sys.stderr)
        with self._done:
            self._written += len(lines)
            self._done.notify_all()
