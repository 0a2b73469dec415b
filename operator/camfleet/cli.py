"""The `camfleet` command (also `kubectl camfleet`, by the kubectl plugin naming convention).

As a kubectl plugin it acts as the user of the current kubeconfig, like `kubectl cnpg` and `cmctl`: approve, deny,
decommission, explain, export create, verify and status (kubectl_plugin.py holds the acting commands)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import os
import sys
from collections.abc import Sequence

import kopf
import yaml

from camfleet import __version__
from camfleet.config import OperatorConfig, env_int
from camfleet.recording.holds import LEGAL_HOLD_AUTHORITY_GROUP

GATEWAY_CREDENTIALS_SECRET = "camfleet-gateway-credentials"

QUIET_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "zeep", "aiohttp.access")
# zeep logs an ERROR with a traceback for every value it cannot convert ("Error during xml -> python
# translation") and carries on with None; the device client then names the element in one warning per device
# transition and in the Camera's status, so zeep's line is only noise (thousands per hour from one bad camera).
SILENCED_LOGGERS = ("zeep.xsd.types.simple",)


def _run(args: argparse.Namespace) -> int:
    from camfleet.kube.crds import CrdsMissing
    from camfleet.kube.signing_keys import OperatorNamespaceUnavailable
    from camfleet.operator import main as run_operator

    lifetime, lead = args.tier_credential_lifetime_seconds, args.tier_credential_rotate_before_seconds
    if args.ptz_silent_after_seconds <= 0 or not 0 < lead < lifetime:
        print(
            "camfleet: --ptz-silent-after-seconds must be positive, and --tier-credential-rotate-before-seconds "
            "more than 0 and less than --tier-credential-lifetime-seconds",
            file=sys.stderr,
        )
        return 2
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat[args.log_format.upper()], log_refkey="object")
    for chatty in QUIET_LOGGERS:  # one line per HTTP request would drown the operator's own log
        logging.getLogger(chatty).setLevel(logging.WARNING)
    for noisy in SILENCED_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
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
        full_pass_seconds=args.full_pass_seconds,
        retry_first_seconds=args.retry_first_seconds,
        retry_max_seconds=args.retry_max_seconds,
        onvif_concurrency=args.onvif_concurrency,
        onvif_timeout_seconds=args.onvif_timeout,
        device_networks=tuple(args.device_network),
        recorder_image=args.recorder_image,
        gateway_rtsp_url=args.gateway_rtsp_url,
        retention_floor_days=args.retention_floor_days,
        legal_hold_groups=tuple(args.legal_hold_group or [LEGAL_HOLD_AUTHORITY_GROUP]),
        webhooks=not args.no_webhooks,
        webhook_addr=args.webhook_addr,
        webhook_port=args.webhook_port,
        webhook_host=args.webhook_host,
        webhook_cert_dir=args.webhook_cert_dir,
        webhook_manage_configuration=not args.webhook_external_configuration,
        decision_addr=args.decision_addr,
        decision_port=args.decision_port,
        decision_cert_dir=args.decision_cert_dir,
        gateway_credentials_secret=args.gateway_credentials_secret,
        gateway_api_url=args.gateway_api_url,
        export_image=args.recorder_image,
        city_time_zone=args.city_time_zone,
        holidays_file=args.holidays_file,
        chain_checkpoint_seconds=args.chain_checkpoint_seconds,
        ptz_silent_after_seconds=args.ptz_silent_after_seconds,
        tier_credential_lifetime_seconds=args.tier_credential_lifetime_seconds,
        tier_credential_rotate_before_seconds=args.tier_credential_rotate_before_seconds,
        **({"operator_namespace": args.operator_namespace} if args.operator_namespace else {}),
        **({"peering_priority": args.priority} if args.priority is not None else {}),
        cluster_peering=args.cluster_peering,
        sharding=args.sharding,
        **({"shard_id": args.shard_id} if args.shard_id else {}),
    )
    if args.pod:
        config = dataclasses.replace(config, pod=args.pod)
    try:
        run_operator(config)
    except (CrdsMissing, OperatorNamespaceUnavailable) as error:
        print(f"camfleet: {error}", file=sys.stderr)
        return 2
    return 0


def _pod_ref(value: str) -> tuple[str, str]:
    namespace, _, name = value.partition("/")
    if not namespace or not name:
        raise argparse.ArgumentTypeError(f"expected NAMESPACE/NAME, got {value!r}")
    return namespace, name


def _positive_seconds(value: str) -> float:
    seconds = float(value)
    if not 0 < seconds <= 60:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 60 seconds (a checkpoint a minute, R3)")
    return seconds


def _at_least_30(value: str) -> int:
    days = int(value)
    if days < 30:
        raise argparse.ArgumentTypeError("recordings must be kept at least 30 days (rule R2)")
    return days


def _access_explain(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import UTC, datetime

    from lightkube import AsyncClient
    from lightkube.core.exceptions import ApiError

    from camfleet.access.effective_permissions import decide
    from camfleet.access.explain import format_explanation
    from camfleet.kube.access_snapshot import CameraNotFound, access_snapshot

    namespace, _, name = args.camera.partition("/")
    if not name:
        print("camfleet: --camera takes NAMESPACE/NAME", file=sys.stderr)
        return 2
    at = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    if at.tzinfo is None:
        print("camfleet: --at needs a time zone, e.g. 2030-07-15T10:00:00+08:00", file=sys.stderr)
        return 2

    async def explain() -> int:
        # With the user's own kubeconfig: the reasons are shown to whoever may read the Camera, tiers and grants
        # (the decision endpoint never tells them).
        client = AsyncClient()
        try:
            snapshot = await access_snapshot(client, namespace, name, args.department)
        except CameraNotFound as error:
            print(f"camfleet: {error}", file=sys.stderr)
            return 1
        except ApiError as error:
            print(f"camfleet: the API server refused: {error.status.code} {error.status.message}", file=sys.stderr)
            return 1
        finally:
            await client.close()
        decision = decide(args.department, snapshot.camera, at, snapshot.tiers, snapshot.grants)
        print(format_explanation(decision))
        return 0 if decision.permissions else 3

    return asyncio.run(explain())


def _explain_flags(explain: argparse.ArgumentParser) -> None:
    explain.add_argument("--department", required=True, help="the department (namespace) asking")
    explain.add_argument("--camera", required=True, metavar="NAMESPACE/NAME")
    explain.add_argument("--at", help="RFC 3339 time to judge at (default: now)")
    explain.set_defaults(handler=_access_explain)


def _operator_namespace(args: argparse.Namespace) -> str:
    return str(args.operator_namespace or os.environ.get("POD_NAMESPACE") or "camfleet-system")


def _gateway_credential(args: argparse.Namespace) -> int:
    """Create, rotate or remove a media gateway's credential for the decision endpoint (needs rights on the
    operator namespace's Secret, i.e. a platform administrator)."""
    import asyncio
    import json

    from lightkube import AsyncClient

    from camfleet.kube.gateway_credentials import issue_credential, remove_credential

    namespace = _operator_namespace(args)

    async def act() -> int:
        client = AsyncClient()
        try:
            if args.action == "delete":
                removed = await remove_credential(client, namespace, args.gateway, args.secret)
                print(f"gateway {args.gateway}: {'removed' if removed else 'had no credential'}", file=sys.stderr)
                return 0 if removed else 1
            departments = [d for value in args.department for d in value.split(",") if d]
            credential = await issue_credential(
                client, namespace, args.gateway, departments, rotate=args.rotate, name=args.secret
            )
        finally:
            await client.close()
        if args.output == "json":
            print(json.dumps({"gateway": credential.name, "token": credential.token,
                              "departments": sorted(credential.departments)}))  # fmt: skip
        elif args.output == "url":
            print(f"https://{credential.name}:{credential.token}@{args.host}/v1/mediamtx/auth")
        else:
            print(credential.token)
        return 0

    try:
        return asyncio.run(act())
    except ValueError as error:
        print(f"camfleet: {error}", file=sys.stderr)
        return 2


def _status(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import UTC, datetime

    from lightkube import AsyncClient

    from camfleet.fleet_status_table import render_json, render_table, summarize
    from camfleet.kube.fleet_snapshot import FleetSnapshot, fleet_snapshot

    async def read() -> FleetSnapshot:
        client = AsyncClient()
        try:
            return await fleet_snapshot(client)
        finally:
            await client.close()

    snapshot = asyncio.run(read())
    summary = summarize(snapshot.cameras, snapshot.policies, snapshot.grants, datetime.now(UTC))
    sys.stdout.write(render_json(summary) if args.output == "json" else render_table(summary))
    return 0


def _crds(args: argparse.Namespace) -> int:
    from camfleet.kube.crds import required_crds

    yaml.safe_dump_all(required_crds(), sys.stdout, sort_keys=False)
    return 0


def _delegate(module: str, argv: list[str]) -> int:
    # Sub-tools own their argument parsing; they receive everything after their name.
    entry = importlib.import_module(module)
    result: int = entry.main(argv)
    return result


def _program() -> str:
    return "kubectl camfleet" if os.path.basename(sys.argv[0]).startswith("kubectl-") else "camfleet"


def build_parser() -> argparse.ArgumentParser:
    from camfleet.kubectl_plugin import add_decision_commands, add_decommission_command, add_export_command
    from camfleet.ptz_cli import add_ptz_command

    parser = argparse.ArgumentParser(
        prog=_program(),
        description="Kubernetes operator for city camera fleets. As `kubectl camfleet`, the commands act as the user "
        "of the current kubeconfig (approve, deny, decommission, explain, export create, ptz, verify, status).",
        epilog="Exit codes: 0 done; 1 refused by the API server or a camfleet rule, or not found; 2 usage error; "
        "3 (explain) the department may do nothing; 4 a --wait ran out of time.",
    )
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
    run.add_argument(
        "--workers", type=int, default=env_int("CAMFLEET_WORKERS", 500),
        help="kopf worker limit (objects whose watch events are handled at once)",
    )  # fmt: skip
    run.add_argument("--standalone", action="store_true", help="no peering (single replica, no HA)")
    run.add_argument("--priority", type=int, default=None, help="peering priority (default: random per process)")
    run.add_argument(
        "--sharding", action="store_true",
        help="share the cameras with the other replicas (Leases, consistent hashing); no kopf peering",
    )  # fmt: skip
    run.add_argument("--shard-id", default=None, help="this replica's shard id (default: $POD_NAME, else the hostname)")
    run.add_argument(
        "--cluster-peering", default=None, metavar="NAME",
        help="elect the active replica through the ClusterKopfPeering NAME, also with --namespace (default: the "
        "ClusterKopfPeering camfleet cluster-wide, a KopfPeering camfleet in each watched namespace)",
    )  # fmt: skip
    run.add_argument("--resync-seconds", type=float, default=300, help="re-check healthy devices this often")
    run.add_argument(
        "--full-pass-seconds",
        type=float,
        default=6 * 3600,
        help="a healthy device is re-checked with a lean pass (clock and managed settings, at most 3 ONVIF calls); "
        "a full pass (device information, services, stream URIs, every managed setting) runs on a spec change, "
        "a failure or drift, and at least this often, so what lean passes never read (firmware, addresses) is "
        "still noticed within a shift",
    )
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
    run.add_argument(
        "--legal-hold-group", action="append", default=[], metavar="GROUP",
        help="members of this group may set or lift legal holds on retention volumes (repeatable; default: "
        f"{LEGAL_HOLD_AUTHORITY_GROUP}; rule R3)",
    )  # fmt: skip
    run.add_argument("--webhook-addr", default="0.0.0.0", help="address the admission webhooks listen on (TLS)")
    run.add_argument("--webhook-port", type=int, default=env_int("CAMFLEET_WEBHOOK_PORT", 9443))
    run.add_argument("--webhook-host", default=None, help="host name or IP the API server uses to reach them")
    run.add_argument("--webhook-cert-dir", default=None, help="folder with tls.crt, tls.key, ca.crt (cert-manager)")
    run.add_argument(
        "--webhook-external-configuration",
        action="store_true",
        help="the webhook configurations are installed by the Helm chart, not by the operator",
    )
    run.add_argument("--no-webhooks", action="store_true", help="no admission webhooks: approvals are not counted")
    run.add_argument("--decision-addr", default="0.0.0.0", help="address of the access decision endpoint (TLS)")
    run.add_argument("--decision-port", type=int, default=env_int("CAMFLEET_DECISION_PORT", 8443))
    run.add_argument("--decision-cert-dir", default=None, help="folder with tls.crt and tls.key for the endpoint")
    run.add_argument(
        "--gateway-credentials-secret",
        default=GATEWAY_CREDENTIALS_SECRET,
        help="Secret in the operator namespace with each media gateway's credential for the decision endpoint",
    )
    run.add_argument(
        "--chain-checkpoint-seconds", type=_positive_seconds, default=60,
        help="read each recorder's chain head this often and sign it into <camera>-chain (R3: at most 60)",
    )  # fmt: skip
    run.add_argument(
        "--ptz-silent-after-seconds", type=float, default=30,
        help="a PTZ holder without a lock that sends nothing for this long loses control (R13)",
    )  # fmt: skip
    run.add_argument(
        "--tier-credential-lifetime-seconds", type=float, default=3600,
        help="longest life of a tier credential (R18; less when the tier's window ends sooner)",
    )  # fmt: skip
    run.add_argument(
        "--tier-credential-rotate-before-seconds", type=float, default=900,
        help="write a tier holder's next credential this long before the current one expires",
    )  # fmt: skip
    run.add_argument("--gateway-api-url", default=None, help="MediaMTX control API, to end revoked live sessions")
    run.add_argument("--city-time-zone", default="Asia/Shanghai", help="time zone of seasons and working days")
    run.add_argument(
        "--holidays-file", default=None, help="YAML {holidays: [dates], workingWeekends: [dates]} for working days"
    )
    run.add_argument(
        "--operator-namespace", default=None, help="namespace of the operator's own Secrets (default: $POD_NAMESPACE)"
    )
    run.add_argument(
        "--pod",
        type=_pod_ref,
        default=None,
        metavar="NAMESPACE/NAME",
        help="this replica's pod, labelled with its peering role for the decision Service "
        "(default: $POD_NAMESPACE/$POD_NAME when both are set)",
    )
    run.add_argument("--log-format", choices=["plain", "full", "json"], default="full")
    run.add_argument("--verbose", action="store_true")
    run.set_defaults(handler=_run)

    access = commands.add_parser("access", help="access decisions").add_subparsers(dest="access", required=True)
    explain = access.add_parser(
        "explain", help="what a department may do with a camera, and why (like kubectl auth can-i)"
    )
    _explain_flags(explain)
    _explain_flags(
        commands.add_parser(
            "explain",
            help="what a department may do with a camera, and why (the same as `access explain`)",
            description="Judges the tiers and grants the user of the kubeconfig may read; exit code 3 when the "
            "department may do nothing with the camera.",
        )
    )
    add_decision_commands(commands)
    add_decommission_command(commands)
    add_export_command(commands)
    add_ptz_command(commands)

    credential = commands.add_parser(
        "gateway-credential",
        help="create, rotate or remove a media gateway's credential for the access decision endpoint",
        description="A media gateway proves itself to /v1/mediamtx/auth and /v1/decide with its own credential "
        "(docs/decision-endpoint.md). The token is printed once on stdout; it takes effect within seconds.",
    )
    credential.add_argument("action", choices=["create", "delete"])
    credential.add_argument("gateway", help="the gateway's name (a DNS label), e.g. mediamtx")
    credential.add_argument(
        "--department", action="append", default=[], metavar="NAMESPACE",
        help="a department this gateway may speak for in department mode (repeatable or comma separated; "
        "default: none, grant tokens only); replaces the list on an existing credential",
    )  # fmt: skip
    credential.add_argument("--rotate", action="store_true", help="issue a new token (the old one stops working)")
    credential.add_argument("--operator-namespace", default=None, help="default: $POD_NAMESPACE or camfleet-system")
    credential.add_argument("--secret", default=GATEWAY_CREDENTIALS_SECRET, help="the credentials Secret's name")
    credential.add_argument(
        "-o", "--output", choices=["token", "url", "json"], default="token",
        help="url: MediaMTX's authHTTPAddress with the credential in it (see --host)",
    )  # fmt: skip
    credential.add_argument(
        "--host", default="camfleet-decision.camfleet-system.svc:8443", help="the decision endpoint, for -o url"
    )
    credential.set_defaults(handler=_gateway_credential)

    status = commands.add_parser(
        "status",
        help="fleet summary per department: online rate, recording, overdue filings and approvals, expiring grants",
    )
    status.add_argument("-o", "--output", choices=["table", "json"], default="table")
    status.set_defaults(handler=_status)

    crds = commands.add_parser("crds", help="print the CRDs (camfleet's and kopf's peering) as YAML")
    crds.set_defaults(handler=_crds)

    for name, help_text in DELEGATED_HELP.items():
        if name != "export":  # `export create` is the plugin's; any other `export` goes to the export Job's tool
            commands.add_parser(name, help=help_text, add_help=False)
    return parser


# Sub-commands implemented by their own packages, which parse their own flags.
DELEGATED = {
    "sim": "camfleet.sim",
    "recorder": "camfleet.recorder_pod.cli",
    "transcode": "camfleet.recorder_pod.transcode",
    "verify": "camfleet.recorder_pod.verify",
    "export": "camfleet.export.cli",
    "export-verify": "camfleet.export.verify",
}
DELEGATED_HELP = {
    "sim": "run simulated ONVIF cameras (SOAP + RTSP) on loopback",
    "recorder": "record a camera's RTSP stream into hash-chained segments (runs in the recorder pod)",
    "transcode": "re-encode a camera's stream for sharing, credentials kept out of argv and logs (transcoder pod)",
    "verify": "check a recording folder's hash chain (`verify [recording] DIR`) or an export folder against its"
    " manifest (`verify export DIR`), naming the first broken link",
    "export": "copy a time range of recordings with a SHA-256 manifest (runs in the export Job)",
    "export-verify": "check an export folder against its manifest",
}


# `verify WHAT DIR`: which verifier checks which folder.
VERIFIERS = {"recording": "verify", "export": "export-verify"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["verify"] and argv[1:2] and argv[1] in VERIFIERS:
        return _delegate(DELEGATED[VERIFIERS[argv[1]]], argv[2:])
    plugin_export = argv[:2] == ["export", "create"] or argv[:2] in (["export", "-h"], ["export", "--help"])
    if argv[:1] and argv[0] in DELEGATED and not plugin_export:
        return _delegate(DELEGATED[argv[0]], argv[1:])
    args = build_parser().parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
