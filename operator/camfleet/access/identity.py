"""The approver's identity, as the admission webhook stamps it from the authenticated request.

Never a field a user types: the mutating webhook overwrites the annotation on every create and
restores it on every update, so only the API server's userInfo ends up there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

APPROVER_ANNOTATION = "camfleet.io/approver"
REQUESTER_ANNOTATION = "camfleet.io/requested-by"


def encode_identity(username: str, groups: Iterable[str]) -> str:
    return json.dumps({"username": username, "groups": sorted(set(groups))}, sort_keys=True)


def decode_identity(
    annotations: Mapping[str, str] | None, key: str = APPROVER_ANNOTATION
) -> tuple[str, list[str]] | None:
    raw = (annotations or {}).get(key)
    if not raw:
        return None
    try:
        value = json.loads(raw)
        return str(value["username"]), [str(g) for g in value.get("groups", [])]
    except (ValueError, KeyError, TypeError):
        return None
