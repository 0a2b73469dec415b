"""Build the local control plane from the official Go modules, cached by version.

Nothing is downloaded from release pages: kube-apiserver, kube-controller-manager,
kube-scheduler and kubectl come from the `k8s.io/kubernetes` module, etcd from
`go.etcd.io/etcd/server/v3`, kwok and kwokctl from `sigs.k8s.io/kwok`, all through
the Go module proxy. `k8s.io/kubernetes` requires its staging modules at v0.0.0,
which the proxy does not serve, so a small wrapper module replaces each one with
the published v0.<minor>.<patch> of the same release.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
KWOK_VERSION = "v0.8.0"
KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
KWOK_COMMANDS = ("kwok", "kwokctl")

_STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/src/", re.MULTILINE)
_ETCD_REQUIRE = re.compile(r"^\s*go\.etcd\.io/etcd/server/v3\s+(v\S+)", re.MULTILINE)


def cache_root() -> Path:
    return Path(os.environ.get("CAMFLEET_CACHE", Path.home() / ".cache" / "camfleet"))


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every control-plane binary, one folder per pinned version."""

    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    etcd: Path
    kwok: Path
    kwokctl: Path


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    # A too-new `go` line must fail here rather than silently fetch another toolchain.
    env["GOTOOLCHAIN"] = "local"
    env["CGO_ENABLED"] = "0"
    env.setdefault("GOFLAGS", "-mod=mod")
    return env


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    print("+", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, cwd=cwd, env=_go_env(), text=True, capture_output=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-8000:])
        raise RuntimeError(f"command failed ({done.returncode}): {' '.join(cmd)}")
    return done.stdout


def _etcd_version_pinned_by(kubernetes_mod: str) -> str:
    match = _ETCD_REQUIRE.search(kubernetes_mod)
    if not match:
        raise RuntimeError("k8s.io/kubernetes go.mod does not pin go.etcd.io/etcd/server/v3")
    return match.group(1)


def wrapper_go_mod(kubernetes_version: str, kubernetes_mod: str) -> str:
    """The go.mod of the wrapper module: kubernetes, etcd, and one replace per staging module."""
    staging = sorted(set(_STAGING_REPLACE.findall(kubernetes_mod)))
    if not staging:
        raise RuntimeError("no staging replace lines found in k8s.io/kubernetes go.mod")
    staging_version = "v0." + kubernetes_version.removeprefix("v1.")
    go_line = re.search(r"^go\s+(\S+)", kubernetes_mod, re.MULTILINE)
    lines = [
        "module camfleet.local/controlplane",
        "",
        f"go {go_line.group(1) if go_line else '1.24.0'}",
        "",
        "require (",
        f"\tk8s.io/kubernetes {kubernetes_version}",
        f"\tgo.etcd.io/etcd/server/v3 {_etcd_version_pinned_by(kubernetes_mod)}",
        ")",
        "",
        "replace (",
    ]
    lines += [f"\t{module} => {module} {staging_version}" for module in staging]
    lines += [")", ""]
    return "\n".join(lines)


_TOOLS_GO = """//go:build tools

// Package tools pins the commands this wrapper module builds.
package tools

import (
\t_ "go.etcd.io/etcd/server/v3"
\t_ "k8s.io/kubernetes/cmd/kube-apiserver"
\t_ "k8s.io/kubernetes/cmd/kube-controller-manager"
\t_ "k8s.io/kubernetes/cmd/kube-scheduler"
\t_ "k8s.io/kubernetes/cmd/kubectl"
)
"""


def _version_ldflags(version: str) -> str:
    major, minor = version.removeprefix("v").split(".")[:2]
    build_date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    values = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{key}={value}" for key, value in values.items()]
    return " ".join(flags)


def _download_kubernetes_mod(version: str) -> str:
    out = _run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"], cwd=Path("/"))
    return Path(json.loads(out)["GoMod"]).read_text()


def binaries(kubernetes_version: str = KUBERNETES_VERSION, kwok_version: str = KWOK_VERSION) -> Binaries:
    root = cache_root() / "bin"
    kube = root / f"kubernetes-{kubernetes_version}"
    kwok = root / f"kwok-{kwok_version}"
    return Binaries(
        kube_apiserver=kube / "kube-apiserver",
        kube_controller_manager=kube / "kube-controller-manager",
        kube_scheduler=kube / "kube-scheduler",
        kubectl=kube / "kubectl",
        etcd=kube / "etcd",
        kwok=kwok / "kwok",
        kwokctl=kwok / "kwokctl",
    )


def _build_kubernetes(version: str, target: Path) -> None:
    kubernetes_mod = _download_kubernetes_mod(version)
    work = cache_root() / "src" / f"controlplane-{version}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text(wrapper_go_mod(version, kubernetes_mod))
    (work / "tools.go").write_text(_TOOLS_GO)
    _run(["go", "mod", "tidy"], cwd=work)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    common = ["go", "build", "-trimpath", "-tags", "selinux,notest"]
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS]
    _run([*common, "-ldflags", _version_ldflags(version), "-o", f"{staging}/", *packages], cwd=work)
    _run([*common, "-ldflags", "-s -w", "-o", str(staging / "etcd"), "go.etcd.io/etcd/server/v3"], cwd=work)
    # Publish atomically so an interrupted build never looks like a cached one.
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def _build_kwok(version: str, target: Path) -> None:
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    env_bin = ["env", f"GOBIN={staging}"]
    packages = [f"sigs.k8s.io/kwok/cmd/{name}@{version}" for name in KWOK_COMMANDS]
    ldflags = f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={version}"
    _run([*env_bin, "go", "install", "-trimpath", "-ldflags", ldflags, *packages], cwd=Path("/"))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def ensure_built(kubernetes_version: str = KUBERNETES_VERSION, kwok_version: str = KWOK_VERSION) -> Binaries:
    """Build whatever is missing from the cache and return the binaries' paths."""
    bins = binaries(kubernetes_version, kwok_version)
    kubernetes = [bins.kube_apiserver, bins.kube_controller_manager, bins.kube_scheduler, bins.kubectl, bins.etcd]
    if not all(path.is_file() for path in kubernetes):
        started = time.monotonic()
        _build_kubernetes(kubernetes_version, bins.kube_apiserver.parent)
        print(f"built kubernetes {kubernetes_version} and etcd in {time.monotonic() - started:.0f}s", flush=True)
    if not (bins.kwok.is_file() and bins.kwokctl.is_file()):
        started = time.monotonic()
        _build_kwok(kwok_version, bins.kwok.parent)
        print(f"built kwok {kwok_version} in {time.monotonic() - started:.0f}s", flush=True)
    return bins


if __name__ == "__main__":
    started = time.monotonic()
    built = ensure_built()
    print(f"control-plane binaries ready in {time.monotonic() - started:.0f}s: {built.kube_apiserver.parent}")
