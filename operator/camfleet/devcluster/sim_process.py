"""The camera simulator as a child process, with its control API, for integration tests and the demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camfleet.devcluster.cluster import free_port


@dataclass
class SimProcess:
    log_path: Path
    fleet_file: Path | None = None
    cameras: int = 1
    port: int = 0
    rtsp_port: int | None = None  # None: no RTSP
    process: subprocess.Popen[str] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.info["url"]).rstrip("/")

    def device_url(self, camera_id: str) -> str:
        return f"{self.url}/cam/{camera_id}/onvif/device_service"

    def start(self, timeout: float = 30) -> None:
        command = [sys.executable, "-m", "camfleet.sim", "--port", str(self.port or free_port())]
        command += ["--fleet", str(self.fleet_file)] if self.fleet_file else ["--cameras", str(self.cameras)]
        command += ["--rtsp-port", str(self.rtsp_port)] if self.rtsp_port is not None else ["--no-rtsp"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True, env=dict(os.environ)
        )
        assert self.process.stdout is not None
        # The simulator prints one JSON line (url, ports) once it serves.
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"simulator exited before serving; see {self.log_path}")
        self.info = json.loads(line)

    def stop(self, timeout: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read() or b"null")

    def camera(self, camera_id: str) -> dict[str, Any]:
        """The device's state as it really is (the control API), e.g. to check what the operator set."""
        state: dict[str, Any] = self._call("GET", f"/control/cameras/{camera_id}")
        return state

    def change(self, camera_id: str, **changes: Any) -> dict[str, Any]:
        """Change the device "by hand": password, skewSeconds, quirks, fault, encoder, ..."""
        state: dict[str, Any] = self._call("PATCH", f"/control/cameras/{camera_id}", changes)
        return state

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._call("GET", "/control/stats")
        return stats

    def reset_stats(self) -> None:
        self._call("POST", "/control/stats/reset")
