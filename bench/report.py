"""Shared by the benchmarks: the machine's description, percentiles, the printed table and bench/RESULTS.md.

Each benchmark writes one section of RESULTS.md, headed `## <title>`; a new run replaces the section of the same
title and leaves the others alone, so the file always holds the latest figures of every benchmark.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "RESULTS.md"
ARTIFACTS = REPO / ".artifacts" / "bench"

Row = tuple[str, str, str, str]
"""(figure, value, target, verdict)"""


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _git_revision() -> str:
    done = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def machine() -> str:
    """One line: what ran the benchmark (the figures mean little without it)."""
    os_name = platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
    return (
        f"{_cpu_model()}, {os.cpu_count()} cores, {_memory_gib():.0f} GiB RAM, {os_name}, "
        f"kernel {platform.release()}, Python {platform.python_version()}, camfleet {_git_revision()}"
    )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation): the value that `fraction` of the samples do not exceed."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: ""}[met]


def table(rows: list[Row]) -> str:
    header: Row = ("figure", "value", "target", "")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = [header, tuple("-" * w for w in widths), *rows]
    return "\n".join(
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) + " |" for line in lines
    )


def write_section(title: str, command: str, rows: list[Row], notes: list[str], started_load: str) -> str:
    """Print the table and put it into RESULTS.md under `## title` (replacing the previous run's)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f"## {title}",
        "",
        f"`{command}` — {stamp}",
        "",
        f"Machine: {machine()}.",
        f"Load average (1/5/15 min) at start: {started_load}; at end: {load_average()}.",
        "",
        table(rows),
        "",
        *[f"- {note}" for note in notes],
        "",
    ]
    section = "\n".join(body)
    print("\n" + section)
    _replace_section(title, section)
    return section


def _replace_section(title: str, section: str) -> None:
    heading = f"## {title}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nWritten by the scripts in bench/.\n"
    parts = text.split("\n## ")
    head, sections = parts[0], [f"## {part}" for part in parts[1:]]
    kept = [s.rstrip("\n") + "\n" for s in sections if s.splitlines()[0] != heading]
    RESULTS.write_text("\n".join([head.rstrip("\n") + "\n", *sorted([*kept, section], key=_section_order)]))


def _section_order(section: str) -> str:
    return section.splitlines()[0]
