"""Helm, built from its Go module (`helm.sh/helm/v3` has no replace lines), cached by version.

Like the control plane, nothing comes from a release page: `go install` through the module proxy,
with `GOTOOLCHAIN=local` so a `go` line newer than this machine's Go fails fast. The binary is
stamped the way Helm's own Makefile stamps it: its version, and the Kubernetes version that
`helm template` and `helm lint` assume (derived from the client-go that Helm requires).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path

from camfleet.devcluster.build import _run, cache_root

# Newest v3 tag whose go line (1.26.0) this machine's Go accepts; v4 changes the CLI.
HELM_VERSION = "v3.22.0"
HELM_MODULE = "helm.sh/helm/v3"

_CLIENT_GO_REQUIRE = re.compile(r"^\s*k8s\.io/client-go\s+v0\.(\d+)\.\d+", re.MULTILINE)


def helm_path(version: str = HELM_VERSION) -> Path:
    return cache_root() / "bin" / f"helm-{version}" / "helm"


def kubernetes_minor_of(helm_go_mod: str) -> str:
    """Helm's Makefile: the Kubernetes minor it assumes is the one of the client-go it requires."""
    match = _CLIENT_GO_REQUIRE.search(helm_go_mod)
    if not match:
        raise RuntimeError(f"{HELM_MODULE} go.mod does not require k8s.io/client-go v0.X.Y")
    return match.group(1)


def helm_ldflags(version: str, kubernetes_minor: str) -> str:
    internal = f"{HELM_MODULE}/internal/version"
    flags = [
        "-s",
        "-w",
        f"-X {internal}.version={version}",
        f"-X {internal}.gitTreeState=clean",
    ]
    for package in (f"{HELM_MODULE}/pkg/lint/rules", f"{HELM_MODULE}/pkg/chartutil"):
        flags += [f"-X {package}.k8sVersionMajor=1", f"-X {package}.k8sVersionMinor={kubernetes_minor}"]
    return " ".join(flags)


def _helm_go_mod(version: str) -> str:
    out = _run(["go", "mod", "download", "-json", f"{HELM_MODULE}@{version}"], cwd=Path("/"))
    return Path(json.loads(out)["GoMod"]).read_text()


def _build_helm(version: str, target: Path) -> None:
    minor = kubernetes_minor_of(_helm_go_mod(version))
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    command = ["env", f"GOBIN={staging}", "go", "install", "-trimpath", "-ldflags", helm_ldflags(version, minor)]
    _run([*command, f"{HELM_MODULE}/cmd/helm@{version}"], cwd=Path("/"))
    # Publish atomically so an interrupted build never looks like a cached one.
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def ensure_helm(version: str = HELM_VERSION) -> Path:
    """Build Helm when it is not cached yet; return the binary's path."""
    binary = helm_path(version)
    if not binary.is_file():
        started = time.monotonic()
        _build_helm(version, binary.parent)
        print(f"built helm {version} in {time.monotonic() - started:.0f}s", flush=True)
    return binary


if __name__ == "__main__":
    print(ensure_helm())
    sys.exit(0)
