"""Issue 18, deliverable 6: the documentation's shell commands run, on the real local control plane.

Every command of a ```sh or ```bash block in docs/ and the README is extracted (tests/integration/
docs_commands.py) and must be classified in tests/integration/docs_commands.yaml: run here, or skipped with the
reason. The runnable ones run as a user would type them (bash, the repository as working directory, KUBECONFIG
set, the control plane's kubectl, the built helm and the camfleet CLI and kubectl plugin on PATH) against the
session's cluster with the examples applied and the session's operator running. The skipped ones are listed
apart in the summary, never counted as passing: they are not tests here at all.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from camfleet.devcluster.cluster import LocalCluster, ensure_built
from camfleet.devcluster.helm import ensure_helm
from camfleet.devcluster.operator_process import OperatorProcess
from tests.integration.conftest import REPO
from tests.integration.docs_commands import Classification, classifications, documented_commands

DOCUMENTED = documented_commands()
CLASSIFIED = classifications()
RUNNABLE = [entry for entry in CLASSIFIED.values() if entry.skip is None]
RETENTION_POLICY = "camfleet-retention-volume-label"


def sources_of(command: str) -> list[str]:
    return [found.source for found in DOCUMENTED if found.command == command]


def test_every_documented_command_is_classified_and_every_entry_is_documented() -> None:
    unclassified = sorted({(found.source, found.command) for found in DOCUMENTED if found.command not in CLASSIFIED})
    documented = {found.command for found in DOCUMENTED}
    stale = sorted(command for command in CLASSIFIED if command not in documented)
    assert not unclassified, "classify in tests/integration/docs_commands.yaml (run or skip, with why):\n" + "\n".join(
        f"  {source}: {command}" for source, command in unclassified
    )
    assert not stale, "no document shows these any more; remove them from docs_commands.yaml:\n" + "\n".join(stale)
    skipped = [entry for entry in CLASSIFIED.values() if entry.skip]
    print(f"\n{len(DOCUMENTED)} documented commands ({len(documented)} distinct): {len(RUNNABLE)} run here, "
          f"{len(skipped)} cannot (not counted as passing):")  # fmt: skip
    for entry in skipped:
        print(f"  NOT RUN {entry.command}\n          {sources_of(entry.command)[0]}: {entry.skip}")


def test_extraction_joins_continuations_and_cuts_comments_outside_quotes() -> None:
    """The extraction itself, on the shapes the docs use (a wrong cut would make commands pass that don't run)."""
    from tests.integration.docs_commands import commands_of_block, shell_blocks

    text = "\n".join([
        "Text.", "```sh", "kubectl get grants -A     # Approved column", "",
        "# a comment line", "curl -s 'localhost/metrics?x' | grep -v '^#'", "helm install a \\", "  charts/x  # why",
        "```", "```yaml", "not: a command", "```", "```bash", "echo \"# kept\" # cut", "```",
    ])  # fmt: skip
    found = [command for first, lines in shell_blocks(text) for _, command in commands_of_block(first, lines)]
    assert found == [
        "kubectl get grants -A",
        "curl -s 'localhost/metrics?x' | grep -v '^#'",
        "helm install a charts/x",
        'echo "# kept"',
    ]


def test_make_help_lists_every_target() -> None:
    """`make help` (the default goal) names every target a user may run, each with its description."""
    makefile = (REPO / "Makefile").read_text()
    phony = {name for line in re.findall(r"^\.PHONY:(.*)$", makefile, re.MULTILINE) for name in line.split()}
    shown = subprocess.run(["make", "--no-print-directory", "help"], cwd=REPO, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    listed = {match.group(1): match.group(2) for match in re.finditer(r"^  make (\S+)\s+(.+)$", shown.stdout, re.M)}
    assert phony - listed.keys() == set(), f"make help omits {sorted(phony - listed.keys())}"
    assert {"e2e-kind", "lint", "unit", "integration", "e2e"} <= listed.keys()
    assert all(description.strip() for description in listed.values())


@pytest.fixture(scope="module")
def examples_applied(cluster: LocalCluster, operator: OperatorProcess) -> Iterator[dict[str, str]]:
    """The examples as a user applies them (`kubectl apply -f examples`, as `make demo` does) with the session's
    operator running, and the environment a user's shell has."""
    done = cluster.kubectl("apply", "-f", str(REPO / "examples"), check=False)
    assert done.returncode == 0, done.stderr
    path = [str(ensure_built().kubectl.parent), str(Path(sys.executable).parent), str(ensure_helm().parent)]
    yield {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "PATH": os.pathsep.join([*path, os.environ["PATH"]])}
    # The retention label policy a documented command applies is cluster-wide; it leaves with this module.
    cluster.kubectl("delete", "validatingadmissionpolicybinding", RETENTION_POLICY, "--ignore-not-found", check=False)
    cluster.kubectl("delete", "validatingadmissionpolicy", RETENTION_POLICY, "--ignore-not-found", check=False)


RUNNABLE_IDS = [(sources_of(entry.command) or ["undocumented"])[0] for entry in RUNNABLE]


@pytest.mark.parametrize("entry", RUNNABLE, ids=RUNNABLE_IDS)
def test_documented_command_runs(entry: Classification, examples_applied: dict[str, str]) -> None:
    command = entry.runnable()
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=REPO, env=examples_applied, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    where = f"{', '.join(sources_of(entry.command))}\n$ {command}\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, where
    assert "error" not in done.stderr.lower(), where
    for text in entry.expect:
        assert text in done.stdout, f"expected {text!r} in the output of {where}"


def test_runnable_commands_have_no_placeholder_left() -> None:
    """A `<placeholder>` left in a command would make the shell read a file: every one is filled by `with`."""
    for entry in RUNNABLE:
        assert not re.search(r"<[a-z][a-z-]*>", entry.runnable()), entry.command
