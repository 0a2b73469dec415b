"""One paginated LIST of a kind in the namespaces the operator serves, for controllers that must know what exists
before they act (a restarted operator must not judge a grant before it knows the grant's cameras).

The namespace patterns are kopf's (`--namespace`: globs, `!` exclusions, comma lists), matched with kopf's own
matcher so that a controller sees exactly the namespaces kopf watches. Plain names are listed one by one (what
a namespaced RBAC Role allows); a glob needs a cluster-wide LIST, as kopf's own namespace discovery does.

Pages are fetched only as fast as the caller consumes them, so a slow consumer (or a large fleet) can outlive the
continue token: the API server answers 410 Gone once etcd has compacted the list's revision (every 5 minutes by
default). The listing then starts again from the first page and yields only what it has not yielded yet (by
namespace and name): each object comes once, as first seen; a change made meanwhile reaches the callers through
their watch, as any change after a listing does. The operator never stops for it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from kopf._cogs.structs.references import NamespaceName, match_namespace  # kopf pinned; not re-exported
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError

log = logging.getLogger(__name__)

PAGE = 500
GONE = 410
RESTARTS = 5
"""Listings of one scope started again after 410 Gone before giving up: each restart needs a whole compaction
interval to pass while the listing is consumed, so more than a few means something else is wrong."""


def namespace_scopes(patterns: Sequence[str]) -> list[str]:
    """The `namespace` arguments for LIST calls: the names themselves, or "*" when any pattern is a glob."""
    if not patterns or any(set(pattern) & set("*?!,") for pattern in patterns):
        return ["*"]
    return sorted(set(patterns))


def served(namespace: str, patterns: Sequence[str]) -> bool:
    """Whether kopf, given these `--namespace` patterns (none: cluster-wide), serves `namespace`."""
    return not patterns or any(match_namespace(NamespaceName(namespace), pattern) for pattern in patterns)


def _body_of(item: Any) -> dict[str, Any]:
    return item.to_dict() if hasattr(item, "to_dict") else dict(item)


async def list_whole(
    client: AsyncClient, resource: Any, namespace: str, labels: dict[str, Any] | None = None, page: int = PAGE
) -> AsyncIterator[dict[str, Any]]:
    """Every object of `resource` in `namespace` ("*": all), page by page, each once, across expired continue
    tokens (module docstring)."""
    yielded: set[tuple[str, str]] = set()
    restarts = 0
    while True:
        try:
            async for item in client.list(resource, namespace=namespace, labels=labels or {}, chunk_size=page):
                body = _body_of(item)
                key = (body["metadata"].get("namespace") or "", body["metadata"]["name"])
                if key not in yielded:
                    yielded.add(key)
                    yield body
            return
        except ApiError as error:
            if error.status.code != GONE or restarts >= RESTARTS:
                raise
            restarts += 1
            log.warning(
                "listing %s outlived its continue token after %d objects (410 Gone); listing again from the start",
                getattr(resource, "__name__", resource),
                len(yielded),
            )


async def list_served(
    client: AsyncClient,
    resource: Any,
    patterns: Sequence[str],
    labels: dict[str, Any] | None = None,
    page: int = PAGE,
) -> AsyncIterator[dict[str, Any]]:
    """Every object of `resource` (with `labels`) in the served namespaces, as plain dicts, page by page."""
    for scope in namespace_scopes(patterns):
        async for body in list_whole(client, resource, scope, labels, page):
            if served(body["metadata"]["namespace"], patterns):
                yield body
