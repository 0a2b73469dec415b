"""Hand edits of objects camfleet applies: which of the fields camfleet sets someone else now owns.

Server-side apply records who set each field (managedFields). A `kubectl edit`, `patch`, `scale` or `set env`
on a field camfleet applied moves that field to the editor's manager, so the live object differs from camfleet's
manifest exactly where another manager owns a field the manifest sets. This compares the two without keeping
the live object (only the foreign paths, usually none) and without trusting camfleet's applied-hash annotation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from camfleet.config import FIELD_MANAGER

# Fields other managers own by design: the status, and the revision the Deployment controller stamps.
_IGNORED_SUBRESOURCES = frozenset({"status"})


def foreign_fields(body: Mapping[str, Any], manager: str = FIELD_MANAGER) -> list[dict[str, Any]]:
    """The fieldsV1 trees that managers other than camfleet own in the object's spec and labels."""
    trees = []
    for entry in (body.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager or entry.get("subresource") in _IGNORED_SUBRESOURCES:
            continue
        fields = entry.get("fieldsV1") or {}
        kept = {k: v for k, v in fields.items() if k == "f:spec"}
        labels = (fields.get("f:metadata") or {}).get("f:labels")
        if labels:
            kept["f:metadata"] = {"f:labels": labels}
        if kept:
            trees.append({"manager": entry.get("manager", "?"), "fields": kept})
    return trees


def _element(items: list[Any], key: str) -> Any:
    """The list element a `k:{...}` (by keys) or `v:...` (by value) names."""
    if key.startswith("k:"):
        wanted = json.loads(key[2:])
        return next(
            (i for i in items if isinstance(i, Mapping) and all(str(i.get(k)) == str(v) for k, v in wanted.items())),
            None,
        )
    value = json.loads(key[2:])
    return value if value in items else None


def _paths(tree: Mapping[str, Any], desired: Any, path: str) -> Iterator[str]:
    for key, subtree in tree.items():
        if key == ".":
            continue
        if key.startswith("f:") and isinstance(desired, Mapping) and key[2:] in desired:
            child, name = desired[key[2:]], f"{path}.{key[2:]}"
        elif key[:2] in ("k:", "v:") and isinstance(desired, list):
            child, name = _element(desired, key), f"{path}[{key[2:]}]"
            if child is None:
                continue
        else:
            continue  # a field camfleet does not set: not camfleet's to put back
        if subtree and isinstance(child, Mapping | list):
            yield from _paths(subtree, child, name)
        else:
            yield name.lstrip(".")


def edited_fields(foreign: list[dict[str, Any]], manifest: Mapping[str, Any]) -> list[str]:
    """Fields the manifest sets that other managers own now (`manager: path`): hand edits to put back."""
    return sorted({f"{entry['manager']}: {p}" for entry in foreign for p in _paths(entry["fields"], manifest, "")})
