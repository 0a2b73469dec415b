"""camfleet deletes or overwrites only what it made: objects with its labels and an owner (ownerReference, or the
owner annotation on objects that must outlive their owner) carrying the uid of the object that caused them.

A name collision (a Secret `s3-access` someone else created, a Deployment `<camera>-recorder` of another tool)
is a `NameConflict` the caller turns into a condition and an Event, never a deletion or a force-apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lightkube import AsyncClient

from camfleet.api.conditions import Condition
from camfleet.kube.apply import delete_if_present, get_or_none

OWNER_UID_ANNOTATION = "camfleet.io/owner-uid"
MANAGED_BY = {"app.kubernetes.io/managed-by": "camfleet"}
NAME_CONFLICT = "NameConflict"
"""The reason of a condition (and Event) saying an object in the way is not camfleet's."""


class NameConflict(Exception):
    """An object with the name camfleet wants exists and is not camfleet's (the message names it and why)."""

    def __init__(self, kind: str, namespace: str | None, name: str, why: str) -> None:
        self.kind, self.namespace, self.name, self.why = kind, namespace, name, why
        where = f"{namespace}/{name}" if namespace else name
        super().__init__(f"{kind} {where} exists and is not camfleet's ({why}); camfleet leaves it alone")


def foreign_because(body: Mapping[str, Any], owner_uid: str | None, labels: Mapping[str, str]) -> str | None:
    """Why `body` is not camfleet's object of `owner_uid` (None: it is). `owner_uid` None checks labels only."""
    meta = body.get("metadata") or {}
    present = meta.get("labels") or {}
    missing = sorted(key for key, value in {**MANAGED_BY, **labels}.items() if present.get(key) != value)
    if missing:
        return f"without camfleet's label {', '.join(missing)}"
    if owner_uid is None:
        return None
    uids = {ref.get("uid") for ref in meta.get("ownerReferences") or []}
    uids.add((meta.get("annotations") or {}).get(OWNER_UID_ANNOTATION))
    return None if owner_uid in uids else f"not owned by uid {owner_uid}"


def _body(found: Any) -> dict[str, Any]:
    body: dict[str, Any] = found.to_dict() if hasattr(found, "to_dict") else dict(found)
    return body


async def check_owned(
    client: AsyncClient, resource: Any, name: str, namespace: str | None, owner_uid: str | None,
    labels: Mapping[str, str],
) -> dict[str, Any] | None:  # fmt: skip
    """The existing object when it is camfleet's (None: absent); NameConflict when someone else's."""
    found = await get_or_none(client, resource, name, namespace)
    if found is None:
        return None
    body = _body(found)
    why = foreign_because(body, owner_uid, labels)
    if why is not None:
        raise NameConflict(resource.__name__, namespace, name, why)
    return body


async def delete_owned(
    client: AsyncClient, resource: Any, name: str, namespace: str | None, owner_uid: str | None,
    labels: Mapping[str, str],
) -> bool:  # fmt: skip
    """Delete camfleet's object; False when absent; NameConflict (nothing deleted) when someone else's."""
    if await check_owned(client, resource, name, namespace, owner_uid, labels) is None:
        return False
    return await delete_if_present(client, resource, name, namespace)


def name_conflict_condition(kind: str, message: str, before: Condition | None, now: datetime) -> Condition:
    """The condition `kind` False with reason NameConflict (its transition time kept while it stays so)."""
    unchanged = before is not None and before.status == "False" and before.reason == NAME_CONFLICT
    return Condition.model_validate(
        {
            "type": str(kind),
            "status": "False",
            "reason": NAME_CONFLICT,
            "message": message,
            "lastTransitionTime": before.last_transition_time if unchanged and before else now,
        }
    )
