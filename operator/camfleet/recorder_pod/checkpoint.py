"""Signed checkpoints of a chain head, kept outside the recorder pod, so a cut-off or rewritten tail is seen.

Whoever can rewrite the retention volume can cut the last lines off the chain (or rebuild them) and leave a
chain that verifies on its own. The operator therefore reads each recording camera's chain head from the
recorder (`GET /chain`: seq, head, written) and keeps it, signed, where the pod cannot write: the ConfigMap
`<camera>-chain` in the camera's namespace (controllers/checkpoints.py), which holds the latest checkpoint
(`checkpoint.json`), the last hour of them (`history.jsonl`) and every checkpoint a recorder later contradicted
(`contradicted.jsonl`). `camfleet verify DIR --checkpoint FILE --keys JWKS` then requires the chain to still hold
line `seq` with hash `head`; `camfleet verify DIR --camera NS/NAME` reads that ConfigMap (and the operator's
public keys from its signing-keys Secret, or `--keys`) with the user's kubeconfig and checks every checkpoint
that ConfigMap holds but the history.

A checkpoint is a small JSON object: `camera` ("namespace/name"), `seq`, `head` (the chain hash of line `seq`),
`time` (when the operator read it, ISO 8601 UTC), `keyId` (the operator key's RFC 7638 thumbprint, as in its
JWKS) and `signature`: Ed25519 (the operator's token signing key, kube/signing_keys.py) over
`camfleet-chain-checkpoint-v1\\n` + the canonical JSON of the other fields. The prefix keeps a checkpoint
signature from ever being taken for a token's, and the other way round. Verification trusts nothing in the
checkpoint but the key id, and only picks among the keys it is given.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DOMAIN = b"camfleet-chain-checkpoint-v1\n"
# The checkpoint ConfigMap `<camera>-chain` and its keys.
CHAIN_SUFFIX = "-chain"
LATEST_KEY = "checkpoint.json"
HISTORY_KEY = "history.jsonl"
CONTRADICTED_KEY = "contradicted.jsonl"
_HEAD = re.compile(r"[0-9a-f]{64}")


class CheckpointError(ValueError):
    """A checkpoint is malformed, signed by an unknown key, or its signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    camera: str
    seq: int
    head: str
    time: str
    key_id: str
    signature: str = ""

    def signed_bytes(self) -> bytes:
        body = {"camera": self.camera, "seq": self.seq, "head": self.head, "time": self.time, "keyId": self.key_id}
        return DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    def to_json(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "seq": self.seq,
            "head": self.head,
            "time": self.time,
            "keyId": self.key_id,
            "signature": self.signature,
        }

    def check_signature(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        """Raise CheckpointError unless one of `keys` (by key id) signed exactly this checkpoint."""
        key = keys.get(self.key_id)
        if key is None:
            raise CheckpointError(f"signed by key {self.key_id!r}, which is not among the operator's keys")
        try:
            key.verify(_unb64url(self.signature), self.signed_bytes())
        except (InvalidSignature, ValueError):
            raise CheckpointError("the signature does not verify: the checkpoint was altered or forged") from None


def sign(camera: str, seq: int, head: str, time: str, key_id: str, key: Ed25519PrivateKey) -> Checkpoint:
    unsigned = Checkpoint(camera, seq, head, time, key_id)
    signature = base64.urlsafe_b64encode(key.sign(unsigned.signed_bytes())).decode().rstrip("=")
    return Checkpoint(camera, seq, head, time, key_id, signature)


def load_checkpoint(data: Any) -> Checkpoint:
    """Strict reading of a checkpoint's JSON (as written by `Checkpoint.to_json`)."""
    if not isinstance(data, Mapping):
        raise CheckpointError("a checkpoint is a JSON object")
    try:
        checkpoint = Checkpoint(
            camera=_text(data, "camera"),
            seq=data["seq"],
            head=_text(data, "head"),
            time=_text(data, "time"),
            key_id=_text(data, "keyId"),
            signature=_text(data, "signature"),
        )
    except KeyError as error:
        raise CheckpointError(f"field {error.args[0]!r} is missing") from None
    if not isinstance(checkpoint.seq, int) or isinstance(checkpoint.seq, bool) or checkpoint.seq < 0:
        raise CheckpointError("field 'seq' must be a line number")
    if not _HEAD.fullmatch(checkpoint.head):
        raise CheckpointError("field 'head' must be a sha256 chain hash")
    return checkpoint


def load_public_keys(text: str) -> dict[str, Ed25519PublicKey]:
    """Ed25519 public keys by key id from a JWK Set (the operator's `/.well-known/jwks.json`) or one JWK."""
    try:
        document = json.loads(text)
    except ValueError:
        raise CheckpointError("the keys are not JSON (a JWK Set is expected)") from None
    entries = document.get("keys", [document]) if isinstance(document, dict) else []
    keys = {}
    for entry in entries:
        if isinstance(entry, dict) and entry.get("kty") == "OKP" and entry.get("crv") == "Ed25519":
            key = Ed25519PublicKey.from_public_bytes(_unb64url(str(entry.get("x", ""))))
            keys[str(entry.get("kid") or key_id(key))] = key
    if not keys:
        raise CheckpointError("no Ed25519 key in the key set")
    return keys


def anchors(data: Mapping[str, str]) -> list[Checkpoint]:
    """The checkpoints a `<camera>-chain` ConfigMap's data holds that a chain must agree with: every contradicted
    one (oldest first), then the latest. Strict: a malformed entry raises CheckpointError."""
    found = [load_checkpoint(json.loads(line)) for line in data.get(CONTRADICTED_KEY, "").splitlines() if line]
    if data.get(LATEST_KEY):
        found.append(load_checkpoint(json.loads(data[LATEST_KEY])))
    if not found:
        raise CheckpointError("the camera's checkpoint ConfigMap holds no checkpoint yet")
    return found


def camera_anchors(
    camera: str, keys_file: Path | None, operator_namespace: str, keys_secret: str
) -> tuple[list[Checkpoint], dict[str, Ed25519PublicKey]]:
    """The checkpoints of `camera` ("namespace/name") and the operator's public keys, read with the user's
    kubeconfig: the ConfigMap `<name>-chain`, and `keys_file` (JWKS) or else the operator's signing-keys Secret."""
    from lightkube import Client
    from lightkube.core.exceptions import ApiError
    from lightkube.resources.core_v1 import ConfigMap, Secret

    from camfleet.access.tokens import SigningKeys, SigningKeysError

    namespace, _, name = camera.partition("/")
    if not namespace or not name:
        raise CheckpointError(f"--camera {camera!r}: expected NAMESPACE/NAME")
    client = Client()
    try:
        stored = client.get(ConfigMap, f"{name}{CHAIN_SUFFIX}", namespace=namespace)
        found = anchors(stored.data or {})
        if keys_file is not None:
            return found, load_public_keys(keys_file.read_text())
        secret = client.get(Secret, keys_secret, namespace=operator_namespace)
        keys = SigningKeys.from_secret_data(secret.data or {})
    except ApiError as error:
        raise CheckpointError(f"{error.status.code} {error.status.message}") from None
    except SigningKeysError as error:
        raise CheckpointError(f"the signing keys Secret: {error}") from None
    return found, {key.kid: key.public_key for key in (keys.active, *keys.previous)}


def key_id(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint, the same id the operator's JWKS gives the key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value:
        raise CheckpointError(f"field {name!r} must be a non-empty string")
    return value


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise CheckpointError("not base64url") from None
