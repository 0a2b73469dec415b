"""One paginated LIST of a kind in the namespaces the operator serves, for controllers that must know what exists
before they act (a restarted operator must not judge a grant before it knows the grant's cameras).

The namespace patterns are kopf's (`--namespace`: globs, `!` exclusions, comma lists), matched with kopf's own
matcher so that a controller sees exactly the namespaces kopf watches. Plain names are listed one by one (what
a namespaced RBAC Role allows); a glob needs a cluster-wide LIST, as kopf's own namespace discovery does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from kopf._cogs.structs.references import NamespaceName, match_namespace  # kopf pinned; not re-exported
from lightkube import AsyncClient

PAGE = 500


def namespace_scopes(patterns: Sequence[str]) -> list[str]:
    """The `namespace` arguments for LIST calls: the names themselves, or "*" when any pattern is a glob."""
    if not patterns or any(set(pattern) & set("*?!,") for pattern in patterns):
        return ["*"]
    return sorted(set(patterns))


def served(namespace: str, patterns: Sequence[str]) -> bool:
    """Whether kopf, given these `--namespace` patterns (none: cluster-wide), serves `namespace`."""
    return not patterns or any(match_namespace(NamespaceName(namespace), pattern) for pattern in patterns)


async def list_served(
    client: AsyncClient, resource: Any, patterns: Sequence[str], labels: dict[str, Any] | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every object of `resource` (with `labels`) in the served namespaces, as plain dicts, page by page."""
    for scope in namespace_scopes(patterns):
        async for item in client.list(resource, namespace=scope, labels=labels or {}, chunk_size=PAGE):
            body: dict[str, Any] = item.to_dict() if hasattr(item, "to_dict") else dict(item)
            if served(body["metadata"]["namespace"], patterns):
                yield body
