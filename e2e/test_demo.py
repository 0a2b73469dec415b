"""`make demo` as a new user meets it: it comes up, shows the gateway working and a token refused after its
grant ended, ends with a table that fits 120 columns and says what is simulated; a user's own cameras (the
documented `camfleet sim --fleet` example) get volumes from the demo's provisioner and become Ready.

The demo runs on a control plane of its own (CAMFLEET_DEMO_NAME), before the other e2e tests start theirs, and
is taken down at the end. It uses the demo's fixed ports (17080, 17554, 18554, 18997): stop a running demo
first (make demo-down).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import condition, get_json, wait_for

from camfleet.devcluster.build import cache_root
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.sim_process import SimProcess

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / ".artifacts"
OWN = REPO / "docs" / "examples"


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[LocalCluster, str]]:
    name = f"camfleet-demo-test-{os.getpid()}"
    env = {**os.environ, "CAMFLEET_DEMO_NAME": name}
    env.pop("KUBECONFIG", None)
    command = [sys.executable, "-m", "camfleet.devcluster.demo"]
    try:
        done = subprocess.run([*command, "up"], env=env, capture_output=True, text=True, timeout=400, check=False)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "demo-output.txt").write_text(done.stdout + done.stderr)
        assert done.returncode == 0, f"make demo failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr}"
        yield LocalCluster(name=name), done.stdout
    finally:
        subprocess.run([*command, "down"], env=env, capture_output=True, text=True, timeout=120, check=False)
        shutil.rmtree(cache_root() / f"demo-{name}", ignore_errors=True)  # this run's demo folder (logs, pids)


def final_table(output: str) -> list[str]:
    lines = output.rstrip("\n").splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("NAMESPACE") and "RECORDER" in line)
    return lines[start:]


def test_demo_ends_with_a_table_within_120_columns_that_says_what_is_simulated(demo: tuple[LocalCluster, str]) -> None:
    _, output = demo
    table = final_table(output)
    too_wide = [line for line in table if len(line) > 120]
    assert not too_wide, "\n".join(too_wide)
    assert "pod faked" in "\n".join(table), "the recorder column says kwok fakes the pod"
    assert any(line.startswith("Simulated:") for line in table)
    assert "no footage is written" in "\n".join(table)


def test_demo_shows_the_decision_endpoint_and_the_gateway(demo: tuple[LocalCluster, str]) -> None:
    _, output = demo
    assert "decision endpoint  https://127.0.0.1:" in output
    assert "media gateway: MediaMTX, RTSP rtsp://127.0.0.1:18554/<namespace>/<camera>" in output
    watched = next(line for line in output.splitlines() if line.startswith("gateway check:"))
    assert watched.endswith("frames decoded"), watched
    before = next(line for line in output.splitlines() if "before its end:" in line)
    after = next(line for line in output.splitlines() if "after its end:" in line)
    assert before.strip().endswith("frames decoded"), before
    assert "refused by the gateway" in after, after
    assert "NOT refused" not in after, after


def test_the_printed_watch_command_reads_the_camera_through_the_gateway(demo: tuple[LocalCluster, str]) -> None:
    _, output = demo
    command = next(line.strip() for line in output.splitlines() if line.strip().startswith("ffplay "))
    # What the user runs, with ffprobe in place of the player (no display here): the token comes from its Secret.
    probe = command.replace("ffplay ", "ffprobe -v error -show_entries stream=codec_name -of csv=p=0 ", 1)
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "h264" in done.stdout, done.stdout


def test_own_cameras_from_the_documented_fleet_file_get_volumes_and_become_ready(
    demo: tuple[LocalCluster, str],
) -> None:
    cluster, _ = demo
    sim = SimProcess(log_path=ARTIFACTS / "sim-own-cameras.log", fleet_file=OWN / "sim-fleet.yaml", port=17081,
                     rtsp_port=17555)  # fmt: skip
    sim.start()
    try:
        cluster.kubectl("apply", "-f", str(OWN / "my-cameras.yaml"))
        for camera in ("harbour-gate-north", "harbour-gate-south"):
            wait_for(
                lambda c=camera: get_json(cluster, "pvc", f"{c}-recordings", "-n", "transport")
                .get("status", {}).get("phase") == "Bound",
                timeout=60, what=f"{camera}'s volume bound by the demo's provisioner",
            )  # fmt: skip
            wait_for(
                lambda c=camera: (found := condition(get_json(cluster, "camera", c, "-n", "transport"), "Ready"))
                and found["status"] == "True",
                timeout=90, what=f"{camera} Ready",
            )  # fmt: skip
    finally:
        sim.stop()
