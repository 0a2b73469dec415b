"""Where the CPU time goes: CPU seconds per process over a phase, and py-spy profiles of Python processes.

CPU time is read from /proc/<pid>/stat (user + system, children excluded), so measuring costs nothing. A
profile is `py-spy record` in raw (collapsed stack) form, summarised as the share of samples per library and
the functions that hold the CPU themselves.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from camfleet.devcluster.cluster import processes_using

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CONTROL_PLANE = ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kwok")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def control_plane_pids(cluster_dir: Path) -> dict[str, int]:
    """The cluster's processes by program name (kube-apiserver, etcd, ...)."""
    found: dict[str, int] = {}
    for pid in processes_using(cluster_dir):
        try:
            program = Path(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()).name
        except OSError:
            continue
        if program in CONTROL_PLANE:
            found[program] = pid
    return found


class CpuMeter:
    """CPU seconds each named process used between `start()` and `stop()`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def start_one(self, name: str) -> None:
        self._start[name] = cpu_seconds(self.pids[name])

    def stop(self) -> dict[str, float]:
        self.used = {name: cpu_seconds(pid) - self._start.get(name, 0.0) for name, pid in self.pids.items()}
        return self.used

    def summary(self, wall_seconds: float) -> str:
        total = sum(self.used.values())
        parts = [f"{name} {seconds:.0f}" for name, seconds in sorted(self.used.items(), key=lambda kv: -kv[1])]
        return f"{total:.0f} CPU-s in {wall_seconds:.0f} s wall ({', '.join(parts)})"


def py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


class Profile:
    """`py-spy record` of one process from `start()` until `stop()`; `summary()` reads the collapsed stacks."""

    def __init__(self, pid: int, output: Path, rate: int = 49) -> None:
        self.pid = pid
        self.output = output
        self.rate = rate
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> bool:
        program = py_spy()
        if program is None:
            return False
        self.output.parent.mkdir(parents=True, exist_ok=True)
        command = [program, "record", "--pid", str(self.pid), "--rate", str(self.rate), "--format", "raw"]
        command += ["--nonblocking", "--output", str(self.output)]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return True

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def summary(self, top: int = 8) -> tuple[str, str, str]:
        """Shares of the samples: per library (innermost third-party frame), per camfleet module on whose behalf
        (innermost camfleet frame), and per function holding the CPU itself."""
        if not self.output.exists():
            return "no profile", "", ""
        stacks = []
        for line in self.output.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if stack and count_text.isdigit():
                stacks.append((stack.split(";"), int(count_text)))
        return shares_of(stacks, top) if stacks else ("no samples", "", "")


def shares_of(stacks: Iterable[tuple[list[str], float]], top: int = 8) -> tuple[str, str, str]:
    """Weighted stacks (frames `function (package/module.py:line)`, outermost first): the shares per library of the
    innermost frame, per camfleet module on whose behalf, and per innermost function."""
    libraries: Counter[str] = Counter()
    callers: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0.0
    for frames, weight in stacks:
        total += weight
        libraries[_library(frames)] += weight
        callers[_camfleet_module(frames)] += weight
        functions[_short(frames[-1])] += weight

    def shares(counter: Counter[str]) -> str:
        return ", ".join(f"{name} {100 * n / total:.0f}%" for name, n in counter.most_common(top))

    return shares(libraries), shares(callers), shares(functions)


def _short(frame: str) -> str:
    """`function (path/to/module.py:12)` -> `module.function`."""
    function, _, where = frame.partition(" (")
    module = Path(where.split(":", 1)[0]).stem if where else ""
    return f"{module}.{function}" if module else function


def _parts(frame: str) -> tuple[str, ...]:
    """py-spy names files relative to their sys.path entry: `camfleet/cli.py`, `asyncio/events.py`, `ssl.py`."""
    return Path(frame.partition(" (")[2].rsplit(":", 1)[0]).parts


def _library(frames: list[str]) -> str:
    """The top-level package or module of the innermost frame: zeep, lightkube, asyncio, camfleet, ..."""
    parts = _parts(frames[-1])
    return parts[0].removesuffix(".py") if parts else "other"


def _camfleet_module(frames: list[str]) -> str:
    """The innermost camfleet module on the stack (whose work it was), e.g. onvif.client; else the library."""
    for frame in reversed(frames):
        parts = _parts(frame)
        if parts and parts[0] == "camfleet":
            return ".".join(parts[1:]).removesuffix(".py")
    return _library(frames)
