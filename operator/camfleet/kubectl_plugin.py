"""`kubectl camfleet` commands that act, as the user of the current kubeconfig: approve, deny, decommission and
`export create` (explain, verify and status are in cli.py and the tools it delegates to).

Each command makes one ordinary API request with the user's own credentials, so the API server authenticates
the person and camfleet's admission webhooks stamp them as the approver or requester: nothing the command sends
says who acts. Approvals are such acts of people, never applied from Git (docs/concepts.md).

Exit codes: 0 done; 1 the API server or a webhook refused, or something named does not exist; 2 a usage error
(the message names the flag to fix); 4 `--wait` ran out of time (the object stays; the message says where to look).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 4
KINDS = {
    "grant": "SharingGrant",
    "grants": "SharingGrant",
    "sharinggrant": "SharingGrant",
    "sharinggrants": "SharingGrant",
    "export": "FootageExport",
    "exports": "FootageExport",
    "footageexport": "FootageExport",
    "footageexports": "FootageExport",
}
NAME_PREFIX_LIMIT = 40  # generateName leaves room for the webhook's random suffix within a DNS label


class UsageProblem(ValueError):
    """A flag or argument to fix; the message names it."""


class Refused(RuntimeError):
    """The API server, a webhook or the cluster's state refused; the message says what to do."""


@dataclass(frozen=True)
class Target:
    kind: str
    """SharingGrant or FootageExport."""
    name: str


def parse_target(text: str) -> Target:
    """`grant/NAME`, `export/NAME` (or the kinds' full names); a bare NAME is a grant."""
    kind_text, slash, name = text.partition("/")
    if not slash:
        kind_text, name = "grant", text
    kind = KINDS.get(kind_text.lower())
    if kind is None:
        raise UsageProblem(f"{text!r}: approve or deny grant/NAME or export/NAME (kinds: SharingGrant, FootageExport)")
    if not name:
        raise UsageProblem(f"{text!r}: give the name after the slash, e.g. grant/crossings")
    return Target(kind, name)


def approval_manifest(
    target: Target,
    target_namespace: str,
    approval_namespace: str,
    verdict: str,
    reason: str | None = None,
    document_reference: str | None = None,
) -> dict[str, Any]:
    """The GrantApproval to create: no approver field, since the webhook stamps whoever sends it."""
    spec: dict[str, Any] = {"target": {"kind": target.kind, "name": target.name}, "verdict": verdict}
    if target.kind == "SharingGrant":
        spec["target"]["namespace"] = target_namespace
    if reason:
        spec["reason"] = reason
    if document_reference:
        spec["documentReference"] = document_reference
    prefix = f"{target.name[:NAME_PREFIX_LIMIT].rstrip('-.')}-{verdict.lower()}-"
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "GrantApproval",
        "metadata": {"generateName": prefix, "namespace": approval_namespace},
        "spec": spec,
    }


def parse_time(flag: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageProblem(f"{flag} {text!r}: give an RFC 3339 time, e.g. 2030-04-18T19:30:00+08:00") from None
    if moment.tzinfo is None:
        raise UsageProblem(f"{flag} {text!r}: the time needs its time zone (Z or +08:00)")
    return moment


def export_ranges(start: str | None, end: str | None, ranges: Sequence[str]) -> list[dict[str, str]]:
    """The export's time ranges from `--from/--to` and any `--range START/END`."""
    pairs: list[tuple[str, str]] = []
    if start or end:
        if not (start and end):
            raise UsageProblem("--from and --to go together (or give --range START/END)")
        pairs.append((start, end))
    for text in ranges:
        first, slash, last = text.partition("/")
        if not slash:
            raise UsageProblem(f"--range {text!r}: give START/END, two RFC 3339 times")
        pairs.append((first, last))
    if not pairs:
        raise UsageProblem("give the time range to export: --from START --to END, or --range START/END")
    result = []
    for first, last in pairs:
        begins, ends = parse_time("--from", first), parse_time("--to", last)
        if begins >= ends:
            raise UsageProblem(f"the range {first} to {last} ends before it starts")
        result.append({"start": begins.isoformat(), "end": ends.isoformat()})
    return result


def export_manifest(args: argparse.Namespace, namespace: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "cameras": list(dict.fromkeys(args.camera)),
        "ranges": export_ranges(args.start, args.end, args.range),
        "purpose": args.purpose,
        "caseReference": args.case_reference,
        "maskPrivacy": not args.no_mask_privacy,
    }
    if args.storage_class:
        spec["storageClassName"] = args.storage_class
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "FootageExport",
        "metadata": {"name": args.name, "namespace": namespace},
        "spec": spec,
    }


def condition_of(body: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [c for c in (body.get("status") or {}).get("conditions") or [] if c.get("type") == kind]
    return dict(found[0]) if found else {}


def export_outcome(body: dict[str, Any]) -> tuple[int | None, str]:
    """(exit code, what to print) for a FootageExport as it is now; code None while it is still under way."""
    name = body["metadata"]["name"]
    approved, completed = condition_of(body, "Approved"), condition_of(body, "Completed")
    status = body.get("status") or {}
    if approved.get("status") == "False":
        return EXIT_REFUSED, f"footageexport/{name} was denied: {approved.get('message', '')}"
    if completed.get("status") == "True":
        files = status.get("files") or []
        return EXIT_OK, (
            f"footageexport/{name} completed: {len(files)} file(s) on PersistentVolumeClaim"
            f" {status.get('persistentVolumeClaim')}, manifest SHA-256 {status.get('manifestSha256')};"
            " check a copy with `kubectl camfleet verify export DIR`"
        )
    if completed.get("reason") == "ExportFailed":
        return EXIT_REFUSED, f"footageexport/{name} failed: {completed.get('message', '')}"
    return None, approved.get("message") or completed.get("message") or "waiting for the operator"


# -- talking to the API server ----------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> Any:
    from lightkube import AsyncClient, KubeConfig
    from lightkube.core.exceptions import ConfigError

    try:
        config = KubeConfig.from_file(args.kubeconfig) if args.kubeconfig else KubeConfig.from_env()
        return AsyncClient(config.get(context_name=args.context) if args.context else config)
    except ConfigError as error:
        raise UsageProblem(f"kubeconfig: {error} (--kubeconfig, --context or $KUBECONFIG)") from None


def _namespace(args: argparse.Namespace, client: Any) -> str:
    return str(args.namespace or client.namespace or "default")


def api_refusal(error: Any, what: str) -> Refused:
    """The API server's answer in words: status code and its message (which names the rule for camfleet's)."""
    status = error.status
    hint = {
        403: " (your kubeconfig's user lacks the role, or a camfleet rule refused: the message says which)",
        404: " (check the name and -n/--namespace)",
    }.get(status.code or 0, "")
    return Refused(f"{what}: {status.code} {status.message}{hint}")


async def _get(client: Any, kind: str, name: str, namespace: str) -> dict[str, Any]:
    from lightkube.core.exceptions import ApiError

    from camfleet.kube.resources import RESOURCES

    try:
        found = await client.get(RESOURCES[kind], name, namespace=namespace)
    except ApiError as error:
        raise api_refusal(error, f"cannot read {kind} {namespace}/{name}") from None
    body: dict[str, Any] = found.to_dict()
    return body


async def _create(client: Any, manifest: dict[str, Any]) -> dict[str, Any]:
    from lightkube.core.exceptions import ApiError

    from camfleet.kube.resources import RESOURCES

    kind = manifest["kind"]
    resource = RESOURCES[kind]
    try:
        created = await client.create(resource.from_dict(manifest), namespace=manifest["metadata"]["namespace"])
    except ApiError as error:
        raise api_refusal(error, f"{kind} refused") from None
    body: dict[str, Any] = created.to_dict()
    return body


async def _approval_namespace(client: Any, args: argparse.Namespace, target: Target, namespace: str) -> str:
    """Where the approval lives: an export's own namespace; for a grant, the cameras' owner department."""
    if target.kind == "FootageExport" or args.owner:
        return str(args.owner or namespace)
    try:
        grant = await _get(client, "SharingGrant", target.name, namespace)
    except Refused as refused:
        raise Refused(f"{refused}; give the cameras' owner department with --owner NAMESPACE") from None
    return str(grant["spec"]["cameras"]["namespace"])


async def decide(args: argparse.Namespace, verdict: str) -> int:
    from camfleet.access.identity import APPROVER_ANNOTATION, decode_identity

    target = parse_target(args.target)
    client = _client(args)
    try:
        namespace = _namespace(args, client)
        where = await _approval_namespace(client, args, target, namespace)
        manifest = approval_manifest(target, namespace, where, verdict, args.reason, args.document_reference)
        created = await _create(client, manifest)
    finally:
        await client.close()
    name = created["metadata"]["name"]
    identity = decode_identity(created["metadata"].get("annotations"), APPROVER_ANNOTATION)
    # A grant lives in the grantee's namespace, an export in the approval's own.
    shown = f"{target.kind} {namespace}/{target.name}"
    if identity is None:
        print(
            f"grantapproval/{name} created in {where}, but no admission webhook stamped its approver: it will not"
            " count. Is the camfleet operator running with its webhooks?",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    print(f"grantapproval/{name} created in {where}: {verdict} of {shown} by {identity[0]}")
    return EXIT_OK


async def _wait(check: Callable[[], Awaitable[tuple[int | None, str]]], seconds: float) -> tuple[int, str]:
    deadline = time.monotonic() + seconds
    while True:
        code, message = await check()
        if code is not None:
            return code, message
        if time.monotonic() >= deadline:
            return EXIT_TIMEOUT, message
        await asyncio.sleep(1)


async def decommission(args: argparse.Namespace) -> int:
    """spec.decommission: true, then delete: the operator stops the recorder and keeps the recordings (R19, R3)."""
    from lightkube.core.exceptions import ApiError
    from lightkube.types import PatchType

    from camfleet.kube.resources import RESOURCES

    client = _client(args)
    camera = RESOURCES["Camera"]
    try:
        namespace = _namespace(args, client)
        await _get(client, "Camera", args.camera, namespace)
        try:
            patch = {"spec": {"decommission": True}}
            await client.patch(camera, args.camera, patch, namespace=namespace, patch_type=PatchType.MERGE)
            await client.delete(camera, args.camera, namespace=namespace)
        except ApiError as error:
            raise api_refusal(error, f"cannot decommission Camera {namespace}/{args.camera}") from None
        print(f"camera/{args.camera} in {namespace}: decommission set, deletion requested")
        if not args.wait:
            return EXIT_OK

        async def gone() -> tuple[int | None, str]:
            try:
                await client.get(camera, args.camera, namespace=namespace)
            except ApiError as error:
                if error.status.code == 404:
                    return EXIT_OK, await _decommissioned_event(client, namespace, args.camera)
                raise
            return None, "the operator has not released the camera yet"

        code, message = await _wait(gone, args.timeout)
    finally:
        await client.close()
    if code == EXIT_TIMEOUT:
        print(
            f"camera/{args.camera} is still there after {args.timeout:g}s: is the operator running? See"
            f" `kubectl describe camera {args.camera} -n {namespace}`",
            file=sys.stderr,
        )
        return code
    print(message)
    return code


async def _decommissioned_event(client: Any, namespace: str, camera: str) -> str:
    """The operator's Decommissioned Event (how long recordings are kept, the filing reminder), when readable."""
    from lightkube.core.exceptions import ApiError
    from lightkube.resources.core_v1 import Event

    removed = (
        f"camera/{camera} removed from the fleet; its recordings stay for their retention (R3); file the removal"
        " with the police within 30 days (rule R5)"
    )
    try:
        async for event in client.list(Event, namespace=namespace, fields={"involvedObject.name": camera}):
            if event.reason == "Decommissioned" and event.message:
                return f"camera/{camera}: {event.message}"
    except ApiError:
        pass
    return removed


async def create_export(args: argparse.Namespace) -> int:
    export_manifest(args, "")  # flags first: a usage error is told before any kubeconfig problem
    client = _client(args)
    try:
        namespace = _namespace(args, client)
        created = await _create(client, export_manifest(args, namespace))
        name = created["metadata"]["name"]
        print(
            f"footageexport/{name} created in {namespace}; it needs the approvals of two people other than you:"
            f" kubectl camfleet approve export/{name} -n {namespace}"
        )
        if not args.wait:
            return EXIT_OK

        async def settled() -> tuple[int | None, str]:
            return export_outcome(await _get(client, "FootageExport", name, namespace))

        code, message = await _wait(settled, args.timeout)
    finally:
        await client.close()
    if code == EXIT_TIMEOUT:
        print(f"footageexport/{name} not finished after {args.timeout:g}s: {message}", file=sys.stderr)
    else:
        print(message, file=sys.stdout if code == EXIT_OK else sys.stderr)
    return code


# -- command line -----------------------------------------------------------------------------------------------


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def run(action: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        return asyncio.run(action())
    except UsageProblem as problem:
        print(f"kubectl camfleet: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except Refused as refused:
        print(f"kubectl camfleet: {refused}", file=sys.stderr)
        return EXIT_REFUSED


def add_decision_commands(commands: Any) -> None:
    for verdict, summary in (("Approve", "approve"), ("Deny", "deny")):
        parser = commands.add_parser(
            summary,
            help=f"{summary} a sharing grant or footage export, as yourself (rule R15)",
            description=f"Create a GrantApproval that {summary}s grant/NAME (a SharingGrant, in -n its grantee's "
            "namespace) or export/NAME (a FootageExport, in -n its namespace). The API server records you, the user "
            "of the kubeconfig, as the approver. To change your mind, run the other command: your newest decision "
            "counts, the older one stays as a record.",
        )
        parser.add_argument("target", metavar="grant/NAME|export/NAME")
        add_connection_flags(parser)
        parser.add_argument(
            "--owner",
            help="namespace of the cameras' owner, where a grant's approvals live (default: read from the grant)",
        )
        parser.add_argument(
            "--reason", required=verdict == "Deny", help="why; required to deny (the applicant is told, R11)"
        )
        parser.add_argument("--document-reference", help="reference of the approval document (R15)")
        parser.set_defaults(handler=lambda args, verdict=verdict: run(lambda: decide(args, verdict)))


def add_decommission_command(commands: Any) -> None:
    parser = commands.add_parser(
        "decommission",
        help="remove a camera from the fleet, keeping its recordings for their retention (R19, R3)",
        description="Sets spec.decommission: true and deletes the Camera. The operator stops its recorder and keeps "
        "the recording volume until its retention has passed; file the removal within 30 days (R5).",
    )
    parser.add_argument("camera", metavar="CAMERA")
    add_connection_flags(parser)
    parser.add_argument("--no-wait", dest="wait", action="store_false", help="do not wait for the camera to go")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for the camera to go (default 60)")
    parser.set_defaults(handler=lambda args: run(lambda: decommission(args)))


def add_export_command(commands: Any) -> None:
    exports = commands.add_parser(
        "export",
        help="request a footage export (`export create`); without `create`, the export tool of the export Job",
    ).add_subparsers(dest="export_command", required=True)
    parser = exports.add_parser(
        "create",
        help="create a FootageExport from flags, optionally wait for it and print where the copy is",
        description="Creates a FootageExport as you (the requester, who may not approve it). Two other people "
        "approve it with `kubectl camfleet approve export/NAME`; then the operator copies the footage with a "
        "SHA-256 manifest (R15).",
    )
    parser.add_argument("name", metavar="NAME")
    add_connection_flags(parser)
    parser.add_argument("--camera", action="append", required=True, help="camera to export (repeatable)")
    parser.add_argument("--from", dest="start", metavar="START", help="RFC 3339 start, e.g. 2030-04-18T19:30:00+08:00")
    parser.add_argument("--to", dest="end", metavar="END", help="RFC 3339 end (at most 24 hours after --from)")
    parser.add_argument("--range", action="append", default=[], metavar="START/END", help="another range (repeatable)")
    parser.add_argument("--purpose", required=True, help="what the footage is needed for (R15)")
    parser.add_argument("--case-reference", required=True, help="case or approval document the export serves (R15)")
    parser.add_argument("--no-mask-privacy", action="store_true", help="keep privacy masks out of the copy (R17)")
    parser.add_argument("--storage-class", help="StorageClass of the volume that receives the copy")
    parser.add_argument("--wait", action="store_true", help="wait until the copy is complete, denied or failed")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait with --wait (default 600)")
    parser.set_defaults(handler=lambda args: run(lambda: create_export(args)))
