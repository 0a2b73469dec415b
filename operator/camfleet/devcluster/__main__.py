"""`python -m camfleet.devcluster build|up|down|status`: the local control plane for tests and the demo."""

from __future__ import annotations

import argparse
import sys
import time

from camfleet.devcluster.build import ensure_built
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.helm import ensure_helm
from camfleet.devcluster.kstatus_build import ensure_kstatus
from camfleet.devcluster.mediamtx_build import ensure_mediamtx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m camfleet.devcluster", description=__doc__)
    parser.add_argument("action", choices=["build", "up", "down", "status"])
    parser.add_argument("--name", default="camfleet", help="cluster name (default: %(default)s)")
    parser.add_argument("--nodes", type=int, default=2, help="kwok fake nodes to create (default: %(default)s)")
    args = parser.parse_args(argv)

    if args.action == "build":
        started = time.monotonic()
        bins = ensure_built()
        helm = ensure_helm()
        print(f"helm ready: {helm}")
        print(f"mediamtx ready: {ensure_mediamtx()}")
        print(f"kstatus ready: {ensure_kstatus()}")
        print(f"control-plane binaries ready in {time.monotonic() - started:.1f}s: {bins.kube_apiserver.parent}")
        return 0

    cluster = LocalCluster(name=args.name, nodes=args.nodes)
    if args.action == "up":
        cluster.start()
        print(f"build/cache check: {cluster.timings['build']:.1f}s, cluster start: {cluster.timings['start']:.1f}s")
        print(f"cluster {args.name!r} is up; kube-apiserver {cluster.version()['gitVersion']}")
        print(f"export KUBECONFIG={cluster.kubeconfig}")
        return 0
    if args.action == "down":
        leftovers = cluster.stop()
        if leftovers:
            print(f"killed processes kwokctl left behind: {leftovers}", file=sys.stderr)
        print(f"cluster {args.name!r} is down")
        return 0
    running = cluster.is_running()
    print(f"cluster {args.name!r}: {'running' if running else 'not running'}; kubeconfig {cluster.kubeconfig}")
    return 0 if running else 1


if __name__ == "__main__":
    sys.exit(main())
