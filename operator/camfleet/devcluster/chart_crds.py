"""The Helm chart's crds/ folder: the repository's crds/ byte for byte, plus kopf's peering CRDs.

Helm installs `crds/` before any template, so the ClusterKopfPeering object the chart creates needs its CRD
there too. `write` refreshes the folder (make chart-crds); `check` fails when it differs (CI).

    python -m camfleet.devcluster.chart_crds write|check [REPO_CRDS CHART_CRDS]
"""

from __future__ import annotations

import sys
from pathlib import Path

from camfleet.api.crds import HEADER, render
from camfleet.kube.peering import peering_crds

PEERING_HEADER = (
    "# kopf's peering CRD, from camfleet.kube.peering by `python -m camfleet.devcluster.chart_crds write`."
    " Do not edit.\n"
)
DEFAULT_REPO_CRDS = Path("crds")
DEFAULT_CHART_CRDS = Path("charts/camfleet/crds")


def peering_files() -> dict[str, str]:
    return {
        f"{crd['metadata']['name']}.yaml": PEERING_HEADER + render(crd).removeprefix(HEADER) for crd in peering_crds()
    }


def expected_files(repo_crds: Path) -> dict[str, str]:
    """File name -> content the chart's crds/ must hold."""
    copied = {path.name: path.read_text(encoding="utf-8") for path in sorted(repo_crds.glob("*.yaml"))}
    if not copied:
        raise FileNotFoundError(f"{repo_crds} holds no CRD files")
    return {**copied, **peering_files()}


def differences(repo_crds: Path, chart_crds: Path) -> list[str]:
    """One line per chart CRD file that is missing, differs, or is left over."""
    expected = expected_files(repo_crds)
    problems = []
    for name, content in expected.items():
        path = chart_crds / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"{path}: differs from {repo_crds / name if (repo_crds / name).exists() else 'kopf'}")
    for path in sorted(chart_crds.glob("*.yaml")):
        if path.name not in expected:
            problems.append(f"{path}: not a CRD camfleet defines")
    return problems


def write(repo_crds: Path, chart_crds: Path) -> list[Path]:
    chart_crds.mkdir(parents=True, exist_ok=True)
    expected = expected_files(repo_crds)
    for path in chart_crds.glob("*.yaml"):
        if path.name not in expected:
            path.unlink()
    written = []
    for name, content in expected.items():
        path = chart_crds / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 3) or argv[0] not in ("write", "check"):
        print("usage: python -m camfleet.devcluster.chart_crds write|check [REPO_CRDS CHART_CRDS]", file=sys.stderr)
        return 2
    repo_crds, chart_crds = (
        (Path(argv[1]), Path(argv[2])) if len(argv) == 3 else (DEFAULT_REPO_CRDS, DEFAULT_CHART_CRDS)
    )
    if argv[0] == "write":
        for path in write(repo_crds, chart_crds):
            print(f"wrote {path}")
        return 0
    problems = differences(repo_crds, chart_crds)
    if problems:
        print("the chart's CRDs differ from crds/; run `make chart-crds`:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{chart_crds}: identical to {repo_crds} (plus kopf's peering CRDs)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
