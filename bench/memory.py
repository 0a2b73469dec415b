"""Where the operator's memory goes: memray records every allocation of the operator process; at its peak, the
live allocations are attributed like py-spy's samples (library of the innermost frame, camfleet module on whose
behalf), weighted by bytes.

memray runs the operator in-process (`python -m memray run -m camfleet.cli run ...`), so pids, probes and
py-spy work as usual; tracking costs CPU, so a run with `--memray` says so next to its figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

from processes import shares_of

# Longest first, so that site-packages wins over the standard library folder that contains it.
IMPORT_ROOTS = sorted({str(Path(entry).resolve()) for entry in sys.path if entry}, key=len, reverse=True)


def launcher(output: Path) -> tuple[str, ...]:
    """Interpreter arguments that run the operator module under memray, writing `output`."""
    return ("-m", "memray", "run", "--quiet", "--force", "-o", str(output))


def _relative(filename: str) -> str:
    """memray gives absolute paths; py-spy's summariser expects them relative to their sys.path entry."""
    for root in IMPORT_ROOTS:
        if filename.startswith(root + "/"):
            return filename[len(root) + 1 :]
    return filename.rsplit("/", 1)[-1]


def peak_breakdown(recording: Path, top: int = 8) -> tuple[float, str, str, str]:
    """Peak RSS-relevant heap (MB) and its shares by library, by camfleet module, and by allocating function."""
    from memray import FileReader  # only benchmarks need memray

    reader = FileReader(str(recording))
    stacks = []
    for record in reader.get_high_watermark_allocation_records(merge_threads=True):
        frames = [f"{function} ({_relative(filename)}:{line})" for function, filename, line in record.stack_trace()]
        if frames:
            stacks.append((list(reversed(frames)), float(record.size)))  # memray: innermost first
    peak_mb = reader.metadata.peak_memory / 1e6
    libraries, callers, functions = shares_of(stacks, top) if stacks else ("no allocations", "", "")
    return peak_mb, libraries, callers, functions
