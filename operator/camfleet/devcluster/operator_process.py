"""The real operator as a child process, for integration tests, e2e and the demo."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from camfleet.devcluster.cluster import free_port


@dataclass
class OperatorProcess:
    kubeconfig: Path
    log_path: Path
    http_port: int = field(default_factory=free_port)
    webhook_port: int = field(default_factory=free_port)
    decision_port: int = field(default_factory=free_port)
    # Dev and test operators only ever talk to devices on loopback (the simulator).
    extra_args: tuple[str, ...] = ("--standalone", "--device-network=127.0.0.0/8")
    install_crds: bool = True
    # Interpreter arguments before `-m camfleet.cli` (benchmarks: run it under a memory tracker).
    launcher: tuple[str, ...] = ()
    # The media gateway credential callers of the decision endpoint use (created before the first start, so the
    # operator serves it at once); None: make none. `gateway_departments`: its department mode.
    gateway: str | None = "camfleet-dev"
    gateway_departments: tuple[str, ...] = ()
    gateway_token: str | None = None
    # The decision endpoint's certificate folder (tls.crt, tls.key); None: one made at the first start and kept
    # across restarts, so a media gateway that pins the certificate (`decision_fingerprint`) keeps trusting it.
    decision_cert_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def decision_url(self) -> str:
        return f"https://127.0.0.1:{self.decision_port}"

    @property
    def operator_namespace(self) -> str:
        for index, arg in enumerate(self.extra_args):
            if arg.startswith("--operator-namespace="):
                return arg.partition("=")[2]
            if arg == "--operator-namespace" and index + 1 < len(self.extra_args):
                return self.extra_args[index + 1]
        return os.environ.get("POD_NAMESPACE") or "camfleet-system"

    @property
    def decision_fingerprint(self) -> str:
        """SHA-256 (hex) of the decision endpoint's certificate, as MediaMTX's `authHTTPFingerprint` pins it."""
        if self.decision_cert_dir is None:
            raise RuntimeError("the operator has not started yet: its decision certificate does not exist")
        pem = (self.decision_cert_dir / "tls.crt").read_text()
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()

    def _ensure_decision_certificate(self) -> Path:
        if self.decision_cert_dir is None:
            from camfleet.kube.webhook_tls import make_webhook_certificate

            folder = self.log_path.parent / f"{self.log_path.stem}-decision-tls"
            make_webhook_certificate(folder, ["127.0.0.1"])
            self.decision_cert_dir = folder
        return self.decision_cert_dir

    def decision_headers(self) -> dict[str, str]:
        """The `Authorization` header of this operator's gateway credential, as MediaMTX sends it (basic auth)."""
        if self.gateway is None or self.gateway_token is None:
            return {}
        pair = f"{self.gateway}:{self.gateway_token}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    def issue_gateway_credential(self, name: str, departments: tuple[str, ...] = (), rotate: bool = False) -> str:
        """`camfleet gateway-credential create` against this cluster; the token."""
        command = [
            sys.executable, "-m", "camfleet.cli", "gateway-credential", "create", name,
            "--operator-namespace", self.operator_namespace, *(["--rotate"] if rotate else []),
            *[f"--department={department}" for department in departments],
        ]  # fmt: skip
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"camfleet gateway-credential create {name} failed: {done.stderr[-2000:]}")
        return done.stdout.strip()

    def start(self, timeout: float = 60) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.gateway is not None and self.gateway_token is None:
            self.gateway_token = self.issue_gateway_credential(self.gateway, self.gateway_departments)
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}
        command = [
            sys.executable, *self.launcher, "-m", "camfleet.cli", "run",
            *(["--install-crds"] if self.install_crds else []),
            "--http-host", "127.0.0.1", "--http-port", str(self.http_port),
            "--webhook-addr", "127.0.0.1", "--webhook-port", str(self.webhook_port),
            "--decision-addr", "127.0.0.1", "--decision-port", str(self.decision_port),
            "--decision-cert-dir", str(self._ensure_decision_certificate()), *self.extra_args,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            # A session of its own, so stop() reaches every child it may start.
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"operator exited with {self.process.returncode}:\n{self.logs()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"operator not ready after {timeout:.0f}s:\n{self.logs()[-4000:]}")

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as answer:
            body: bytes = answer.read()
            return body.decode()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode
