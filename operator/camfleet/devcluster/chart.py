"""The Helm chart as tests and `make e2e-kind` use it: lint, render, and split what it renders.

Helm is the one built from its Go module (`devcluster/helm.py`); nothing here talks to a cluster except
through the kubectl the caller runs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from camfleet.devcluster.helm import ensure_helm

CHART_DIR = Path(__file__).resolve().parents[3] / "charts" / "camfleet"
# Kinds of the prometheus-operator and cert-manager: render them, but a cluster without those CRDs can't hold them.
OPTIONAL_API_GROUPS = ("monitoring.coreos.com/", "cert-manager.io/")


class HelmFailed(RuntimeError):
    """helm exited non-zero; the message carries its output."""


@dataclass(frozen=True)
class Chart:
    directory: Path = CHART_DIR
    helm: Path = field(default_factory=ensure_helm)

    def run(self, *args: str) -> str:
        done = subprocess.run([str(self.helm), *args], text=True, capture_output=True, timeout=120)
        if done.returncode != 0:
            raise HelmFailed(f"helm {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def lint(self, values_files: Sequence[Path] = ()) -> str:
        return self.run("lint", "--strict", str(self.directory), *_values_args(values_files))

    def template(
        self,
        release: str,
        namespace: str,
        values_files: Sequence[Path] = (),
        set_values: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """The rendered templates (not the CRDs, which Helm installs from crds/ before them)."""
        args = ["template", release, str(self.directory), "--namespace", namespace, *_values_args(values_files)]
        for assignment in set_values:
            args += ["--set", assignment]
        return [doc for doc in yaml.safe_load_all(self.run(*args)) if doc]

    def crd_files(self) -> list[Path]:
        return sorted((self.directory / "crds").glob("*.yaml"))


def _values_args(values_files: Iterable[Path]) -> list[str]:
    args: list[str] = []
    for path in values_files:
        args += ["--values", str(path)]
    return args


def of_kind(objects: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj.get("kind") == kind]


def one_of_kind(objects: Iterable[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(objects, kind)
    if len(found) != 1:
        raise LookupError(f"expected one {kind}, the chart rendered {len(found)}")
    return found[0]


def needs_optional_crds(obj: dict[str, Any]) -> bool:
    """True for prometheus-operator and cert-manager kinds."""
    return str(obj.get("apiVersion", "")).startswith(OPTIONAL_API_GROUPS)
