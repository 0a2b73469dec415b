"""`camfleet export`: copy a time range of one camera's recording to an export volume, with a SHA-256 manifest.

Runs in the export Job's pod (see job.py), or by hand on a copy of a recording folder. Every flag but the masks has
an environment variable fallback (CAMFLEET_EXPORT_<FLAG>; ranges and approvers comma-separated). With
`--mask-privacy`, each segment is re-encoded with black over every `--privacy-mask` polygon (ffmpeg, ffprobe).

Output: progress on stderr; exactly one JSON line on stdout, the summary ({"ok": true, files, bytes,
manifestSha256, ...}) or the failure ({"ok": false, error, exitCode, brokenLink?}), also written to the
Kubernetes termination message file when it exists, where the operator reads it. Exit codes: errors.py.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from camfleet.export.document import Request, failure, json_line
from camfleet.export.errors import EXIT_FAILED, EXIT_OK, ExportError, SourceBroken, UsageError
from camfleet.export.masking import Tools
from camfleet.export.process import Paths, run_export
from camfleet.export.selection import DEFAULT_GAP_TOLERANCE_SECONDS, TimeRange
from camfleet.privacy_masks import MaskPolygon

ENV_PREFIX = "CAMFLEET_EXPORT_"
TERMINATION_LOG = "/dev/termination-log"
_TERMINATION_LIMIT = 4096  # bytes Kubernetes keeps of a termination message
_ERROR_LIMIT = 2000

log = logging.getLogger("camfleet.export")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # A usage error still produces the one JSON line the operator reads, not only argparse's text.
        raise UsageError(message)


def parse_range(text: str) -> TimeRange:
    """`START/END` (ISO 8601 interval of two RFC 3339 times, each with its time zone)."""
    start_text, separator, end_text = text.strip().partition("/")
    if not separator:
        raise UsageError(f"range {text!r} is not START/END")
    try:
        start, end = datetime.fromisoformat(start_text), datetime.fromisoformat(end_text)
    except ValueError:
        raise UsageError(f"range {text!r}: times must be RFC 3339, e.g. 2030-04-18T19:30:00+08:00") from None
    if start.tzinfo is None or end.tzinfo is None:
        raise UsageError(f"range {text!r}: each time needs its time zone (Z or +08:00)")
    try:
        return TimeRange(start.timestamp(), end.timestamp())
    except ValueError as error:
        raise UsageError(f"range {text!r}: {error}") from None


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    def env(name: str) -> str | None:
        return environ.get(ENV_PREFIX + name) or None

    def env_list(name: str) -> list[str]:
        return [item.strip() for item in (env(name) or "").split(",") if item.strip()]

    parser = _Parser(prog="camfleet export", description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add("--source", type=Path, default=env("SOURCE"), help="recording folder (manifest.jsonl, segments/)")
    add("--destination", type=Path, default=env("DESTINATION"), help="folder for this export (created)")
    add("--name", default=env("NAME"), help="the FootageExport's name")
    add("--case-reference", default=env("CASE_REFERENCE"), help="case or approval document the export serves")
    add("--camera", default=env("CAMERA"), help="the camera whose recording this is")
    add("--range", dest="ranges", action="append", metavar="START/END", help="time range to export (repeatable)")
    add(
        "--gap-tolerance",
        type=float,
        default=env("GAP_TOLERANCE") or str(DEFAULT_GAP_TOLERANCE_SECONDS),  # a string default goes through type
        help="seconds without footage below which no gap is reported (segment timing jitter)",
    )
    add(
        "--approved-by",
        action="append",
        metavar="USER",
        help="who approved the export (repeatable); recorded in the manifest for the chain of custody (R15)",
    )
    add("--mask-privacy", action="store_true", help="blank the camera's privacy masks in every file (R17)")
    add(
        "--privacy-mask",
        dest="privacy_masks",
        action="append",
        metavar="NAME:L,T;L,T;L,T",
        help="a mask polygon, corners as fractions of the frame (repeatable; with --mask-privacy)",
    )
    add("--ffmpeg", default=env("FFMPEG") or "ffmpeg", help="ffmpeg to re-encode masked segments with")
    add("--ffprobe", default=env("FFPROBE") or "ffprobe", help="ffprobe to read a segment's picture size with")
    add("--termination-log", default=env("TERMINATION_LOG") or TERMINATION_LOG, help="written when it exists")
    # Lists from the environment apply only when no flag gives any (append would add flags to them).
    parser.set_defaults(ranges_from_env=env_list("RANGES"), approvers_from_env=env_list("APPROVED_BY"))
    return parser


def parse_masks(mask_privacy: bool, texts: list[str] | None) -> tuple[MaskPolygon, ...] | None:
    """The polygons to blank; None for an unmasked export. A mask without --mask-privacy is a mistake, refused."""
    if not mask_privacy:
        if texts:
            raise UsageError("--privacy-mask needs --mask-privacy")
        return None
    try:
        return tuple(MaskPolygon.from_arg(text) for text in texts or [])
    except ValueError as error:
        raise UsageError(f"--privacy-mask: {error}") from None


def _parse(argv: list[str], environ: Mapping[str, str]) -> tuple[Request, Paths, float, str, Tools]:
    args = build_parser(environ).parse_args(argv)
    missing = [
        flag
        for flag, value in (
            ("--source", args.source), ("--destination", args.destination), ("--name", args.name),
            ("--case-reference", args.case_reference), ("--camera", args.camera),
            ("--range", args.ranges or args.ranges_from_env),
        )
        if not value
    ]  # fmt: skip
    if missing:
        raise UsageError(f"missing {', '.join(missing)}")
    if args.gap_tolerance < 0:
        raise UsageError("--gap-tolerance cannot be negative")
    ranges = tuple(parse_range(text) for text in args.ranges or args.ranges_from_env)
    approvers = tuple(args.approved_by or args.approvers_from_env)
    masks = parse_masks(args.mask_privacy, args.privacy_masks)
    request = Request(args.name, args.case_reference, args.camera, ranges, approvers, masks)
    tools = Tools(args.ffmpeg, args.ffprobe)
    return request, Paths(args.source, args.destination), args.gap_tolerance, args.termination_log, tools


def _termination_log_from(argv: list[str], environ: Mapping[str, str]) -> str:
    """Where to report even when the flags themselves are wrong."""
    for position, arg in enumerate(argv):
        if arg == "--termination-log" and position + 1 < len(argv):
            return argv[position + 1]
        if arg.startswith("--termination-log="):
            return arg.split("=", 1)[1]
    return environ.get(ENV_PREFIX + "TERMINATION_LOG") or TERMINATION_LOG


def _report(line: Mapping[str, Any], termination_log: str) -> None:
    text = json_line(line)
    print(text, flush=True)
    path = Path(termination_log)
    if not path.exists():
        return
    try:
        path.write_bytes(text.encode()[:_TERMINATION_LIMIT])
    except OSError as error:
        log.warning("cannot write the termination message to %s: %s", path, error.strerror)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")


def main(argv: list[str]) -> int:
    _configure_logging()
    environ = os.environ
    name = "?"
    termination_log = _termination_log_from(argv, environ)
    try:
        request, paths, gap_tolerance, termination_log, tools = _parse(argv, environ)
        name = request.name
        result = run_export(request, paths, gap_tolerance, tools=tools)
    except ExportError as error:
        log.error("export %s failed: %s", name, error)
        broken = None
        if isinstance(error, SourceBroken):
            broken = {"segment": error.segment, "kind": error.kind, "detail": error.detail}
        _report(failure(name, str(error)[:_ERROR_LIMIT], error.exit_code, broken), termination_log)
        return error.exit_code
    except OSError as error:  # the volume is unreadable, full or gone: worth a retry
        log.error("export %s failed: %s", name, error)
        _report(failure(name, str(error)[:_ERROR_LIMIT], EXIT_FAILED), termination_log)
        return EXIT_FAILED
    log.info("export %s complete: %d files, %d bytes", name, result["files"], result["bytes"])
    _report(result, termination_log)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
