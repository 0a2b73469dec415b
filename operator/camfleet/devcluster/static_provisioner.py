"""The demo cluster's volume provisioner: a PersistentVolume for every pending claim of the demo's storage class.

kwok nodes have no storage driver, so nothing would ever bind the retention volume of a camera a user adds to
the demo, and its recorder would wait for it forever. This loop does what a cloud's provisioner does, with
static hostPath volumes (nothing is written: kwok's pods are fake): it lists the claims of the storage class that
are Pending and creates one volume bound in advance to each (`example_fleet.static_volume`).

    python -m camfleet.devcluster.static_provisioner --kubeconfig FILE [--storage-class encrypted-ssd]

`make demo` runs it in the background (stopped by `make demo-down`); `--once` provisions what is pending and
exits (what a user without the demo's loop can run by hand).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from camfleet.devcluster.cluster import run_kubectl
from camfleet.devcluster.example_fleet import LOCAL_STORAGE_CLASS, static_volume


def pending_claims(claims: list[dict[str, Any]], storage_class: str) -> list[dict[str, Any]]:
    """Claims of `storage_class` that wait for a volume (Pending, none named)."""
    return [
        claim
        for claim in claims
        if claim.get("spec", {}).get("storageClassName") == storage_class
        and (claim.get("status") or {}).get("phase", "Pending") == "Pending"
        and not claim["spec"].get("volumeName")
    ]


def volumes_for(claims: list[dict[str, Any]], storage_class: str) -> list[dict[str, Any]]:
    """One volume per claim, as large as `static_volume` makes them: the operator may grow a claim later."""
    return [static_volume(c["metadata"]["namespace"], c["metadata"]["name"], storage_class) for c in claims]


def provision_once(kubeconfig: Path, storage_class: str) -> list[str]:
    """Create the volumes the pending claims need; their names."""
    listed = run_kubectl(kubeconfig, "get", "pvc", "-A", "-o", "json", check=False, timeout=30)
    if listed.returncode != 0:
        return []
    volumes = volumes_for(pending_claims(json.loads(listed.stdout)["items"], storage_class), storage_class)
    if not volumes:
        return []
    # A claim stays Pending for a moment after its volume exists (the PV controller binds it): not made twice.
    existing = run_kubectl(kubeconfig, "get", "pv", "-o", "name", check=False, timeout=30).stdout.split()
    volumes = [v for v in volumes if f"persistentvolume/{v['metadata']['name']}" not in existing]
    if volumes:
        run_kubectl(kubeconfig, "apply", "-f", "-", input=yaml.safe_dump_all(volumes), check=False, timeout=30)
    return [v["metadata"]["name"] for v in volumes]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m camfleet.devcluster.static_provisioner", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--storage-class", default=LOCAL_STORAGE_CLASS)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args(argv)
    while True:
        for name in provision_once(args.kubeconfig, args.storage_class):
            print(f"provisioned PersistentVolume {name}", flush=True)
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
