"""MediaMTX as a child process, the real media gateway of the integration tests, the benchmarks and the demo.

It serves RTSP over TCP on loopback and nothing else (RTMP, HLS, WebRTC, SRT, MoQ, playback, metrics, pprof are
off), its control API on another loopback port for the operator, and asks the operator's decision endpoint
about every reader and publisher (`authMethod: http`) with a gateway credential of its own (`camfleet
gateway-credential`), pinning the endpoint's certificate by its SHA-256 (`authHTTPFingerprint`). The control
API's own actions are excluded from that hook (`authHTTPExclude`): the door refuses `api` to everyone, so the
operator reaches the API on an address only it uses. MediaMTX records nothing (`record: no`): camfleet's
recorder keeps that job.

The configuration carries the gateway credential, so it is written 0600 into a folder of its own and only its
path is on the command line; the log never shows it (MediaMTX does not print its configuration).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from camfleet.devcluster.cluster import free_port
from camfleet.devcluster.mediamtx_build import ensure_mediamtx
from camfleet.devcluster.operator_process import OperatorProcess

LOOPBACK = "127.0.0.1"
PUBLISHED_PATHS = r"~^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""`<namespace>/<camera>/<profile>`: streams camfleet's transcoders publish (the door decides who may)."""


@dataclass
class MediaMtxProcess:
    log_path: Path
    decision_url: str
    """The operator's decision endpoint, e.g. https://127.0.0.1:8443 (`/v1/mediamtx/auth` is appended)."""
    gateway: str
    gateway_token: str = field(repr=False)
    decision_fingerprint: str = ""
    """SHA-256 (hex) of the endpoint's certificate; empty: the system's trust store decides."""
    rtsp_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    paths: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Static paths besides the published-profile pattern (the operator adds each camera's path by the API)."""
    read_timeout: str = "10s"
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def for_operator(cls, operator: OperatorProcess, log_path: Path, **kwargs: Any) -> MediaMtxProcess:
        """A gateway asking `operator`'s decision endpoint with the operator process's gateway credential."""
        if operator.gateway is None or operator.gateway_token is None:
            raise RuntimeError("the operator process has no gateway credential (start it first)")
        return cls(
            log_path=log_path,
            decision_url=operator.decision_url,
            gateway=operator.gateway,
            gateway_token=operator.gateway_token,
            decision_fingerprint=operator.decision_fingerprint,
            **kwargs,
        )

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    @property
    def config_path(self) -> Path:
        return self.log_path.parent / f"{self.log_path.stem}-config" / "mediamtx.yml"

    def auth_address(self, decision_url: str | None = None) -> str:
        """The hook URL with the gateway credential as its userinfo (Go's HTTP client sends it as basic auth)."""
        parts = urllib.parse.urlsplit(decision_url or self.decision_url)
        userinfo = f"{urllib.parse.quote(self.gateway, safe='')}:{urllib.parse.quote(self.gateway_token, safe='')}"
        return f"{parts.scheme}://{userinfo}@{parts.netloc}/v1/mediamtx/auth"

    def config(self) -> dict[str, Any]:
        off = dict.fromkeys(("rtmp", "hls", "webrtc", "srt", "moq", "playback", "metrics", "pprof"), False)
        return {
            "logLevel": "info",
            "logDestinations": ["stdout"],
            "readTimeout": self.read_timeout,
            "writeTimeout": self.read_timeout,
            "authMethod": "http",
            "authHTTPAddress": self.auth_address(),
            "authHTTPFingerprint": self.decision_fingerprint,
            "authHTTPExclude": [{"action": "api"}, {"action": "metrics"}, {"action": "pprof"}],
            "api": True,
            "apiAddress": f"{LOOPBACK}:{self.api_port}",
            **off,
            "rtsp": True,
            "rtspTransports": ["tcp"],
            "rtspEncryption": "no",
            "rtspAddress": f"{LOOPBACK}:{self.rtsp_port}",
            "rtspAuthMethods": ["basic"],
            "pathDefaults": {"record": False},
            "paths": {**self.paths, PUBLISHED_PATHS: {"source": "publisher"}},
        }

    def write_config(self) -> Path:
        path = self.config_path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.unlink(missing_ok=True)
        # Created 0600 before anything is written: the file carries the gateway credential.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            yaml.safe_dump(self.config(), out, sort_keys=False)
        return path

    def start(self, timeout: float = 30) -> None:
        binary = ensure_mediamtx()
        config = self.write_config()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(binary), str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=config.parent,
            )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"mediamtx exited with {self.process.returncode}:\n{self.logs()[-4000:]}")
            if _listening(self.rtsp_port):
                try:
                    self.api("GET", "/v3/info")
                    return
                except OSError:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"mediamtx not ready after {timeout:.0f}s:\n{self.logs()[-4000:]}")

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; the exit code. The config file (a credential) is removed."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.config_path.unlink(missing_ok=True)
        return self.process.returncode

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- the control API ---------------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.api_url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as answer:
            raw = answer.read()
            return json.loads(raw) if raw else None

    def rtsp_sessions(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.api("GET", "/v3/rtspsessions/list?itemsPerPage=1000")["items"]
        return items

    def readers(self, path: str) -> int:
        """How many sessions read `path` now."""
        try:
            answer = self.api("GET", f"/v3/paths/get/{path}")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return 0
            raise
        return len(answer.get("readers") or [])

    def configured_paths(self) -> dict[str, dict[str, Any]]:
        items = self.api("GET", "/v3/config/paths/list?itemsPerPage=1000")["items"]
        return {item["name"]: item for item in items}

    def point_at(self, decision_url: str) -> None:
        """Send the door's questions to another decision endpoint (what a Service does when the active replica
        changes), without a restart."""
        self.api("PATCH", "/v3/config/global/patch", {"authHTTPAddress": self.auth_address(decision_url)})

    def rtsp_url(self, path: str, *, user: str = "", password: str = "", query: str = "") -> str:
        userinfo = ""
        if user or password:
            userinfo = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}@"
        return f"rtsp://{userinfo}{LOOPBACK}:{self.rtsp_port}/{path}" + (f"?{query}" if query else "")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0
