"""Why an export stops, each with the exit code the Job's pod failure policy acts on.

Only EXIT_FAILED is worth a retry (a segment pruned during the copy, a full or flaky volume); the others
would fail the same way every time, so the Job fails at once instead of burning its retries.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SOURCE_BROKEN = 3
EXIT_DESTINATION_CONFLICT = 4
PERMANENT_EXIT_CODES = (EXIT_USAGE, EXIT_SOURCE_BROKEN, EXIT_DESTINATION_CONFLICT)


class ExportError(Exception):
    """The export did not complete; retrying may help."""

    exit_code = EXIT_FAILED


class UsageError(ExportError):
    """A flag or variable is missing or wrong."""

    exit_code = EXIT_USAGE


class SourceBroken(ExportError):
    """The recording's hash chain does not verify: footage is never exported from a tampered recording (R3)."""

    exit_code = EXIT_SOURCE_BROKEN

    def __init__(self, segment: str, kind: str, detail: str) -> None:
        super().__init__(f"source recording fails verification at {segment}: {kind} ({detail})")
        self.segment = segment
        self.kind = kind
        self.detail = detail


class DestinationConflict(ExportError):
    """The destination holds something an export must not overwrite: another export, an altered one, or
    files that are not an export at all."""

    exit_code = EXIT_DESTINATION_CONFLICT
