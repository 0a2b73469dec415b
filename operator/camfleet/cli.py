"""The `camfleet` command (also `kubectl camfleet`, by the kubectl plugin naming convention)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

import kopf
import yaml

from camfleet import __version__
from camfleet.config import OperatorConfig, env_int

QUIET_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "zeep", "aiohttp.access")


def _run(args: argparse.Namespace) -> int:
    from camfleet.kube.crds import CrdsMissing
    from camfleet.operator import main as run_operator

    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat[args.log_format.upper()], log_refkey="object")
    for chatty in QUIET_LOGGERS:  # one line per HTTP request would drown the operator's own log
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if not args.verbose:
        # kopf reports every handled watch event at INFO: ten thousand lines per resync of a city.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    config = OperatorConfig(
        namespaces=tuple(args.namespace),
        install_crds=args.install_crds,
        http_host=args.http_host,
        http_port=args.http_port,
        worker_limit=args.workers,
        standalone=args.standalone,
        resync_seconds=args.resync_seconds,
        retry_first_seconds=args.retry_first_seconds,
        retry_max_seconds=args.retry_max_seconds,
        onvif_concurrency=args.onvif_concurrency,
        onvif_timeout_seconds=args.onvif_timeout,
        device_networks=tuple(args.device_network),
        recorder_image=args.recorder_image,
        gateway_rtsp_url=args.gateway_rtsp_url,
        retention_floor_days=args.retention_floor_days,
        **({"peering_priority": args.priority} if args.priority is not None else {}),
    )
    try:
        run_operator(config)
    except CrdsMissing as error:
        print(f"camfleet: {error}", file=sys.stderr)
        return 2
    return 0


def _at_least_30(value: str) -> int:
    days = int(value)
    if days < 30:
        raise argparse.ArgumentTypeError("recordings must be kept at least 30 days (rule R2)")
    return days


def _crds(args: argparse.Namespace) -> int:
    from camfleet.kube.crds import required_crds

    yaml.safe_dump_all(required_crds(), sys.stdout, sort_keys=False)
    return 0


def _delegate(module: str, argv: list[str]) -> int:
    # Sub-tools own their argument parsing; they receive everything after their name.
    entry = importlib.import_module(module)
    result: int = entry.main(argv)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="camfleet", description="Kubernetes operator for city camera fleets.")
    parser.add_argument("--version", action="version", version=f"camfleet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig")
    run.add_argument("--install-crds", action="store_true", help="install or upgrade the CRDs before starting")
    run.add_argument(
        "--namespace", action="append", default=[], help="watch only this namespace (repeatable; default: all)"
    )
    run.add_argument("--http-host", default=os.environ.get("CAMFLEET_HTTP_HOST", "0.0.0.0"))
    run.add_argument(
        "--http-port", type=int, default=env_int("CAMFLEET_HTTP_PORT", 8080), help="/healthz, /readyz, /metrics"
    )
    run.add_argument("--workers", type=int, default=env_int("CAMFLEET_WORKERS", 32), help="kopf worker limit")
    run.add_argument("--standalone", action="store_true", help="no peering (single replica, no HA)")
    run.add_argument("--priority", type=int, default=None, help="peering priority (default: random per process)")
    run.add_argument("--resync-seconds", type=float, default=300, help="re-check healthy devices this often")
    run.add_argument("--retry-first-seconds", type=float, default=5, help="first retry delay for a failing device")
    run.add_argument("--retry-max-seconds", type=float, default=300, help="longest retry delay for a failing device")
    run.add_argument(
        "--onvif-concurrency", type=int, default=env_int("CAMFLEET_ONVIF_CONCURRENCY", 50),
        help="devices talked to at once, operator-wide",
    )  # fmt: skip
    run.add_argument("--onvif-timeout", type=float, default=10, help="seconds per ONVIF call")
    run.add_argument(
        "--device-network", action="append", default=[], metavar="CIDR",
        help="only contact devices in this network (repeatable; default: anywhere)",
    )  # fmt: skip
    run.add_argument(
        "--recorder-image",
        default=os.environ.get("CAMFLEET_RECORDER_IMAGE", "ghcr.io/camfleet/camfleet-recorder:0.1.0"),
        help="image of recorder and transcoder pods (camfleet + ffmpeg)",
    )
    run.add_argument(
        "--gateway-rtsp-url", default="rtsp://camfleet-gateway:8554", help="where transcoders publish their streams"
    )
    run.add_argument(
        "--retention-floor-days",
        type=_at_least_30,
        default=30,
        help="cluster-wide minimum retention; raises every policy, can never go below 30 (rule R2)",
    )
    run.add_argument("--log-format", choices=["plain", "full", "json"], default="full")
    run.add_argument("--verbose", action="store_true")
    run.set_defaults(handler=_run)

    crds = commands.add_parser("crds", help="print the CRDs (camfleet's and kopf's peering) as YAML")
    crds.set_defaults(handler=_crds)

    for name, help_text in DELEGATED_HELP.items():
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


# Sub-commands implemented by their own packages, which parse their own flags.
DELEGATED = {
    "sim": "camfleet.sim",
    "recorder": "camfleet.recorder.cli",
    "verify": "camfleet.recorder.verify",
}
DELEGATED_HELP = {
    "sim": "run simulated ONVIF cameras (SOAP + RTSP) on loopback",
    "recorder": "record a camera's RTSP stream into hash-chained segments (runs in the recorder pod)",
    "verify": "check the hash chain of a recording folder and name the first broken link",
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in DELEGATED:
        return _delegate(DELEGATED[argv[0]], argv[1:])
    args = build_parser().parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
