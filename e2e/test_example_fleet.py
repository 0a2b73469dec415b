"""A platform engineer's first hour: apply examples/, watch the fleet become Ready, remove it cleanly."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import condition, get_json, wait_for

from camfleet.devcluster.operator_process import OperatorProcess
from e2e.conftest import Cluster

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_example_fleet_becomes_ready_and_is_removed_cleanly(cluster: Cluster, operator: OperatorProcess | None) -> None:
    cluster.kubectl("apply", "-f", str(EXAMPLES))
    try:
        cameras = get_json(cluster, "cameras", "-A")["items"]
        assert len(cameras) >= 1

        def all_ready() -> bool:
            items = get_json(cluster, "cameras", "-A")["items"]
            return bool(items) and all((condition(c, "Ready") or {}).get("status") == "True" for c in items)

        wait_for(all_ready, timeout=120, what="every example Camera to be Ready")
        table = cluster.kubectl("get", "camfleet", "-A").stdout
        for camera in cameras:
            assert camera["metadata"]["name"] in table
    finally:
        cluster.kubectl("delete", "-f", str(EXAMPLES), "--ignore-not-found", "--timeout=120s")
    assert get_json(cluster, "cameras", "-A").get("items", []) == []
