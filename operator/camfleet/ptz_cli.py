"""`kubectl camfleet ptz acquire|move|preset|home|stop|release|lock CAMERA`: steer a camera through the operator's
PTZ control API (gateway/ptz_api.py; docs/ptz-control.md).

The department's credential is a grant token carrying PTZControl or a tier credential (`--token-file`, e.g. the
`token` of the grant's `-access` Secret); the person is you, proved with the credential kubectl uses: the client
certificate of the current kubeconfig context (presented in TLS) or its bearer token (header
`X-Camfleet-Person-Token`), which the operator verifies against the cluster. A console's gateway credential
speaking for `--department` (`--gateway-token-file`) states its user itself (`--person`). Credentials are read
from files and the kubeconfig, never from the command line (argv is visible to others).

Exit codes: 0 done; 1 refused (another department holds the camera or its lock, no PTZ control, or the device
refused); 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from camfleet.gateway.people import PERSON_TOKEN_HEADER
from camfleet.gateway.ptz_api import ACTIONS

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def add_ptz_command(commands: Any) -> None:
    parser = commands.add_parser(
        "ptz",
        help="steer a camera's PTZ through the operator, arbitrated by level (R13)",
        description="Acquire, move, go to a preset or home, stop, release or lock (level 1) PTZ control of "
        "CAMERA (namespace/name). Every command claims control: a higher level pre-empts, an equal or lower one "
        "is refused while another department holds the camera. With --token-file you are the person steering, "
        "proved by the client certificate or token of your kubeconfig context, as the API server knows you.",
    )
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("camera", metavar="NAMESPACE/CAMERA")
    parser.add_argument("--url", default=os.environ.get("CAMFLEET_PTZ_URL"), help="the operator's decision endpoint")
    parser.add_argument(
        "--token-file", type=Path, help="file holding a grant token with PTZControl, or a tier credential"
    )
    parser.add_argument("--kubeconfig", help="with --token-file: whose credential proves you (default $KUBECONFIG)")
    parser.add_argument("--context", help="with --token-file: kubeconfig context (default: the current one)")
    parser.add_argument("--gateway-token-file", type=Path, help="file holding a console's gateway credential")
    parser.add_argument("--department", help="the department the console speaks for (with --gateway-token-file)")
    parser.add_argument("--person", help="with --gateway-token-file: the console's user (audited as its word)")
    parser.add_argument("--pan", type=float, default=0.0)
    parser.add_argument("--tilt", type=float, default=0.0)
    parser.add_argument("--zoom", type=float, default=0.0)
    parser.add_argument("--relative", action="store_true", help="move: a relative move instead of a continuous one")
    parser.add_argument("--seconds", type=float, help="continuous move: the device stops by itself after this long")
    parser.add_argument("--preset", help="preset: its token or name")
    parser.add_argument("--minutes", type=float, default=10, help="lock: how long (capped by the operator)")
    parser.add_argument(
        "--ca-file", type=Path, help="CA of the endpoint's certificate, or the certificate itself (default: system CAs)"
    )
    parser.set_defaults(handler=ptz_command)


def request_body(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON request of the command, without its credentials."""
    body: dict[str, Any] = {"camera": args.camera}
    if args.person:
        body["person"] = args.person
    if args.action == "move":
        kind = "relative" if args.relative else "continuous"
        move: dict[str, Any] = {"kind": kind, "pan": args.pan, "tilt": args.tilt, "zoom": args.zoom}
        if args.seconds is not None and not args.relative:
            move["timeoutSeconds"] = args.seconds
        body["move"] = move
    if args.action == "preset":
        if not args.preset:
            raise ValueError("preset needs --preset TOKEN-OR-NAME")
        body["preset"] = args.preset
    if args.action == "lock":
        body["lockMinutes"] = args.minutes
    return body


def _credential(args: argparse.Namespace, body: dict[str, Any], tls: ssl.SSLContext) -> dict[str, str]:
    """Put the department's credential in the body or headers, the person's in `tls` or the headers."""
    if args.token_file:
        if args.person:
            raise ValueError("--person is for a console's --gateway-token-file; with --token-file you are the person")
        body["token"] = args.token_file.read_text().strip()
        return person_credential(args.kubeconfig, args.context, tls)
    if args.gateway_token_file and args.department:
        if not args.person:
            raise ValueError("--person is required with --gateway-token-file: the console states who steers")
        body["department"] = args.department
        return {"Authorization": f"Bearer {args.gateway_token_file.read_text().strip()}"}
    raise ValueError("give --token-file, or --gateway-token-file with --department and --person")


def person_credential(kubeconfig: str | None, context_name: str | None, tls: ssl.SSLContext) -> dict[str, str]:
    """The credential kubectl uses for the kubeconfig context: its client certificate (loaded into `tls`, to be
    presented in the handshake; no header) or its bearer token (the header to send)."""
    from lightkube import KubeConfig
    from lightkube.config.client_adapter import user_cert
    from lightkube.config.models import User
    from lightkube.core.exceptions import ConfigError

    try:
        config = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
        single = config.get(context_name=context_name) if context_name else config.get()
    except ConfigError as error:
        raise ValueError(f"kubeconfig: {error} (--kubeconfig, --context or $KUBECONFIG)") from None
    if single is None:
        raise ValueError("kubeconfig: no current context (--context)")
    user = single.user or User()
    certificate = user_cert(user, single.abs_file)
    if certificate is not None:
        tls.load_cert_chain(*certificate)
        return {}
    token = user.token or (Path(single.abs_file(user.token_file)).read_text().strip() if user.token_file else "")
    if token:
        return {PERSON_TOKEN_HEADER: token}
    raise ValueError(
        "the kubeconfig context's user has neither a client certificate nor a token (exec and auth-provider"
        " plugins are not supported here): the operator could not tell who you are"
    )


def ptz_command(args: argparse.Namespace) -> int:
    try:
        if not args.url:
            raise ValueError("--url (or CAMFLEET_PTZ_URL) is required: the operator's decision endpoint")
        context = ssl.create_default_context(cafile=str(args.ca_file) if args.ca_file else None)
        if args.ca_file:
            context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # --ca-file may pin the endpoint's own certificate
        body = request_body(args)
        headers = _credential(args, body, context)
    except (ValueError, OSError, ssl.SSLError) as problem:
        print(f"kubectl camfleet ptz: {problem}", file=sys.stderr)
        return EXIT_USAGE
    request = urllib.request.Request(
        f"{args.url.rstrip('/')}/v1/ptz/{args.action}", data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=15, context=context) as answer:
            print(answer.read().decode())
            return EXIT_OK
    except urllib.error.HTTPError as error:
        print(error.read().decode(errors="replace"))
        return EXIT_USAGE if error.code == 400 else EXIT_REFUSED
    except (urllib.error.URLError, OSError) as error:
        print(f"kubectl camfleet ptz: cannot reach {args.url}: {error}", file=sys.stderr)
        return EXIT_REFUSED
