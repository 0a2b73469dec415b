"""Who approved or requested, and what exactly: the stamps the admission webhook writes (R15, R16).

Never a field a user types. The mutating webhook writes, on every create of a GrantApproval (or a FootageExport):

- `camfleet.io/approver` (`camfleet.io/requested-by`): the authenticated user and groups, for people to read;
- `camfleet.io/approval-stamp` (`camfleet.io/request-stamp`): the same identity, the approval's own namespace,
  name and verdict, and the approved object as the webhook read it from the API server at that moment (its
  uid, generation and a digest of its content), sealed with HMAC-SHA256 under a key that only the operator
  holds (its signing-keys Secret, `kube/signing_keys.py`).

The operator counts only what a valid seal covers. A typed annotation (the webhook not called: failurePolicy
Ignore, the webhook down, a bypass) has no valid seal, a seal copied to another approval names another
approval, and a seal given for another object or other content names another uid, generation or digest: none
of these counts, and the grant (or export) says why. `status.approver` is written by the operator from the
verified seal only; a value already there is never believed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

APPROVER_ANNOTATION = "camfleet.io/approver"
REQUESTER_ANNOTATION = "camfleet.io/requested-by"
APPROVAL_STAMP_ANNOTATION = "camfleet.io/approval-stamp"
REQUEST_STAMP_ANNOTATION = "camfleet.io/request-stamp"
CHANGED_BY_ANNOTATION = "camfleet.io/content-changed-by"
"""On a SharingGrant: who last changed its content (from admission userInfo), for the audit record of voided
approvals. Informational: nothing is counted on it."""

STAMP_VERSION = 1
_DOMAIN = b"camfleet.io/admission-stamp/v1\n"
"""Prefix of every sealed message: a seal is never valid for anything but a camfleet admission stamp."""
MIN_KEY_BYTES = 32


class StampError(ValueError):
    """A stamp is missing, unreadable, or its seal does not verify; the message says which, in words."""


def encode_identity(username: str, groups: Iterable[str]) -> str:
    return json.dumps({"username": username, "groups": sorted(set(groups))}, sort_keys=True)


def decode_identity(
    annotations: Mapping[str, str] | None, key: str = APPROVER_ANNOTATION
) -> tuple[str, list[str]] | None:
    """The readable identity annotation. Informational only: it is not sealed, so nothing counts on it."""
    raw = (annotations or {}).get(key)
    if not raw:
        return None
    try:
        value = json.loads(raw)
        return str(value["username"]), [str(g) for g in value.get("groups", [])]
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Binding:
    """The approved object as it was when the approval was stamped: an approval counts only while these hold."""

    uid: str
    generation: int
    digest: str

    def to_json(self) -> dict[str, Any]:
        return {"uid": self.uid, "generation": self.generation, "digest": self.digest}

    @classmethod
    def from_json(cls, value: Any) -> Binding | None:
        if not isinstance(value, Mapping):
            return None
        return cls(str(value["uid"]), int(value["generation"]), str(value["digest"]))


def content_digest(content: Mapping[str, Any]) -> str:
    """SHA-256 over canonical JSON (sorted keys, no spaces) of the fields that decide what is shared."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def key_id(key: bytes) -> str:
    """A short public name of the key, so that a rotated key can be told from a forged seal."""
    return hashlib.sha256(b"camfleet.io/stamp-key-id\n" + key).hexdigest()[:16]


def _mac(key: bytes, payload: Mapping[str, Any]) -> str:
    message = _DOMAIN + json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode().rstrip("=")


def seal(key: bytes, payload: Mapping[str, Any]) -> str:
    """The annotation value: the payload, the key's id and the HMAC-SHA256 over both."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError("a stamp key has at least 32 bytes")
    body = {**payload, "v": STAMP_VERSION, "kid": key_id(key)}
    return json.dumps({**body, "seal": _mac(key, body)}, sort_keys=True, separators=(",", ":"))


def unseal(keys: Iterable[bytes], raw: str | None) -> dict[str, Any]:
    """The payload of a stamp whose seal verifies under one of `keys`; StampError otherwise."""
    if not raw:
        raise StampError("has no stamp from the admission webhook (made while it was not called)")
    try:
        value = json.loads(raw)
    except ValueError:
        raise StampError("has an unreadable stamp") from None
    if not isinstance(value, dict) or not isinstance(value.get("seal"), str):
        raise StampError("has a stamp without a seal (typed, not written by the admission webhook)")
    given = value.pop("seal")
    for key in keys:
        if value.get("kid") == key_id(key) and hmac.compare_digest(_mac(key, value), given):
            return value
    raise StampError("has no valid stamp: its seal does not verify (typed or altered, not the webhook's)")


@dataclass(frozen=True)
class Stamp:
    """A verified stamp: who, on which object (namespace/name, verdict for approvals), bound to what."""

    username: str
    groups: tuple[str, ...]
    subject_namespace: str
    subject_name: str
    verdict: str | None
    target_kind: str | None
    target_namespace: str | None
    target_name: str | None
    binding: Binding | None
    """None when the approved object did not exist when the approval was made."""
    time: str | None


def stamp_payload(
    username: str,
    groups: Iterable[str],
    subject: tuple[str, str],
    *,
    verdict: str | None = None,
    target: tuple[str, str, str] | None = None,
    binding: Binding | None = None,
    time: str | None = None,
) -> dict[str, Any]:
    """What the webhook seals. `subject`: the stamped object's (namespace, name); `target`: (kind, ns, name)."""
    return {
        "user": {"username": username, "groups": sorted(set(groups))},
        "object": {"namespace": subject[0], "name": subject[1]},
        "verdict": verdict,
        "target": {"kind": target[0], "namespace": target[1], "name": target[2]} if target else None,
        "binding": binding.to_json() if binding else None,
        "time": time,
    }


def read_stamp(keys: Iterable[bytes], raw: str | None) -> Stamp:
    """Verify and read a stamp; StampError when it does not verify or lacks what a stamp has."""
    payload = unseal(keys, raw)
    try:
        user, subject, target = payload["user"], payload["object"], payload.get("target") or {}
        return Stamp(
            username=str(user["username"]),
            groups=tuple(str(g) for g in user.get("groups", [])),
            subject_namespace=str(subject["namespace"]),
            subject_name=str(subject["name"]),
            verdict=payload.get("verdict"),
            target_kind=target.get("kind"),
            target_namespace=target.get("namespace"),
            target_name=target.get("name"),
            binding=Binding.from_json(payload.get("binding")),
            time=payload.get("time"),
        )
    except (KeyError, TypeError, ValueError):
        raise StampError("has a stamp of an unknown shape") from None
