"""Asking the operator's real access decision endpoint (HTTPS), as a media gateway would."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from camfleet.devcluster.operator_process import OperatorProcess


def insecure_tls() -> ssl.SSLContext:
    """The endpoint's private CA lives only inside the operator process; the tests check TLS, not its chain."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def decide(operator: OperatorProcess, token: str, camera: str, permission: str = "LiveView") -> dict[str, Any]:
    """POST /v1/decide with a grant token, as the operator process's gateway; the answer's JSON (allowed, outcome:
    the door tells no reasons, the audit trail does) and, when refused, its `httpStatus`."""
    body = json.dumps({"camera": camera, "permission": permission, "token": token}).encode()
    request = urllib.request.Request(f"{operator.decision_url}/v1/decide", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    for name, value in operator.decision_headers().items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10, context=insecure_tls()) as answer:
            decision: dict[str, Any] = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        decision = json.loads(error.read() or b"{}")
        decision["httpStatus"] = error.code
    return decision


def secret_token(secret: dict[str, Any]) -> str | None:
    """The grant token kept in an access Secret (`data.token`), if there is one."""
    encoded = (secret.get("data") or {}).get("token")
    return base64.b64decode(encoded).decode() if encoded else None
