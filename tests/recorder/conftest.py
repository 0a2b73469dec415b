"""Real processes, no Kubernetes: the simulator's RTSP server, the recorder, and real ffmpeg.

Every process is started in a session of its own and killed by process group at teardown; ffmpeg, which the
recorder starts in its own group, dies with the recorder (parent-death signal) and is hunted down by its data
directory if it ever does not.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from camfleet.recorder_pod.storage import MANIFEST_NAME

FFMPEG = "/usr/bin/ffmpeg"
SEGMENT_SECONDS = 5
T = TypeVar("T")


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def kill_group(process: subprocess.Popen[Any], sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def pid_alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return status != "Z"


def processes_using(path: Path) -> list[int]:
    """Pids whose command line mentions `path` (how a stray ffmpeg of this test is found)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if str(path).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def child_pids(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def manifest_lines(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / MANIFEST_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def recorded_segments(data_dir: Path) -> list[dict[str, Any]]:
    return [line for line in manifest_lines(data_dir) if line["kind"] == "segment"]


def run_verify(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "camfleet.recorder_pod", "verify", str(data_dir), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def copy_recording(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".recorder.lock"))
    return target


def start_recorder(
    command: list[str], data_dir: Path, port: int, environ: dict[str, str], log_path: Path, *extra: str
) -> subprocess.Popen[bytes]:
    """`command` (the recorder's entry point) recording into `data_dir` with the tests' fast settings, metrics on
    `port`, `environ` on top of this process's, its output in `log_path`."""
    argv = [
        *command,
        "--data-dir", str(data_dir),
        "--segment-seconds", str(SEGMENT_SECONDS),
        "--metrics-host", "127.0.0.1",
        "--metrics-port", str(port),
        "--ffmpeg", FFMPEG,
        "--housekeeping-seconds", "2",
        *extra,
    ]  # fmt: skip
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv,
            env={**os.environ, **environ},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class RecorderProcess:
    """`python -m camfleet.recorder_pod` recording one stream into `data_dir`, its log captured in a file."""

    def __init__(self, data_dir: Path, stream_url: str, password: str, log_path: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        environ = {
            "CAMFLEET_STREAM_URL": stream_url,
            "CAMFLEET_STREAM_USERNAME": "viewer",
            "CAMFLEET_STREAM_PASSWORD": password,
        }
        command = [sys.executable, "-m", "camfleet.recorder_pod"]
        self.process = start_recorder(command, data_dir, self.port, environ, log_path, *extra)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> dict[str, float]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return {}
        return {
            sample.name: sample.value for family in text_string_to_metric_families(text) for sample in family.samples
        }

    def healthz(self) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def ffmpeg_pid(self) -> int | None:
        children = child_pids(self.process.pid)
        return children[0] if children else None

    def terminate(self) -> int:
        """SIGTERM, as Kubernetes stops a pod: ffmpeg finishes its segment and the recorder exits."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        kill_group(self.process)
        self.process.wait(timeout=30)


def write_secret_mount(directory: Path, files: dict[str, str]) -> None:
    """Write `files` into `directory` as the kubelet updates a mounted Secret (its AtomicWriter): every file into a
    fresh `..<timestamp>` directory, then the `..data` symlink swapped to it with one rename, then the visible names
    as symlinks through `..data` (stale ones removed) and the old directory deleted. A reader never sees a mix."""
    directory.mkdir(parents=True, exist_ok=True)
    old = os.readlink(directory / "..data") if (directory / "..data").is_symlink() else None
    fresh = directory / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    fresh.mkdir()
    for name, content in files.items():
        (fresh / name).write_text(content)
    (directory / "..data_tmp").symlink_to(fresh.name)
    os.rename(directory / "..data_tmp", directory / "..data")
    for name in files:
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(f"..data/{name}")
    for entry in directory.iterdir():
        if not entry.name.startswith("..") and entry.name not in files:
            entry.unlink()
    if old is not None:
        shutil.rmtree(directory / old)


def members_files(members: list[dict[str, Any]], credentials: dict[str, tuple[str, str]]) -> dict[str, str]:
    """The members Secret's files: members.json and each camera's `<camera>.username` / `<camera>.password`."""
    files = {"members.json": json.dumps(members)}
    for camera, (username, password) in credentials.items():
        files[f"{camera}.username"] = username
        files[f"{camera}.password"] = password
    return files


class GroupRecorderProcess:
    """`camfleet recorder` in group mode (the group Deployment's command) over the volume `root`: `environ` holds
    CAMFLEET_GROUP_CONFIG_DIR, the directory standing for the mounted members Secret."""

    def __init__(self, root: Path, environ: dict[str, str], log_path: Path) -> None:
        self.root = root
        self.log_path = log_path
        self.port = free_port()
        command = [str(Path(sys.executable).with_name("camfleet")), "recorder"]
        self.process = start_recorder(command, root, self.port, environ, log_path)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> tuple[int, str]:
        """(status, body) of `path` on its HTTP port; (0, "") while nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def stop(self) -> None:
        """SIGTERM as Kubernetes stops the pod; then nothing may be left writing into the volume."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                kill_group(self.process)
                self.process.wait(timeout=30)
        for pid in processes_using(self.root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def rtsp_port() -> Iterator[int]:
    """The simulator's real RTSP server (GStreamer, system Python), on a free loopback port."""
    from camfleet.sim.rtsp import SCRIPT, SYSTEM_PYTHON

    port = free_port()
    server = subprocess.Popen(
        [SYSTEM_PYTHON, str(SCRIPT), "--host", "127.0.0.1", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: port_accepts(port) or server.poll() is not None, 30, "the RTSP server to listen")
        assert server.poll() is None, f"the RTSP server exited with {server.returncode}"
        yield port
    finally:
        kill_group(server)
        server.wait(timeout=30)


@pytest.fixture
def stream_password() -> str:
    return f"pw-{uuid.uuid4().hex}"


@contextlib.contextmanager
def cleaned_up() -> Iterator[list[RecorderProcess]]:
    """Collects the recorders started inside it; kills them, and any ffmpeg they left, on the way out."""
    started: list[RecorderProcess] = []
    try:
        yield started
    finally:
        for recorder in started:
            if recorder.process.poll() is None:
                recorder.kill()
            for pid in processes_using(recorder.data_dir):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def recorders() -> Iterator[list[RecorderProcess]]:
    with cleaned_up() as started:
        yield started
