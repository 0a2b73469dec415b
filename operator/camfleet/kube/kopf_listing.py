"""kopf's initial listing, paginated and started again when its continue token expires.

kopf 1.45 lists every watched kind before watching it (`fetching.fetch_objs`), page by page with
`settings.watching.chunk_size`, and hands each page to its per-object workers before asking for the next. At
10,000 cameras that took longer than the API server keeps a continue token, and kopf treats the 410 Gone that
follows as fatal: the operator stopped. Without pages, one reply holds every object: 73 MB of heap at 2,000 cameras
while it is read and parsed, ~365 MB at 10,000, more than the memory target (bench/memory.py --store-cameras).

`install()` puts a narrow wrapper in kopf's place: on 410 Gone it lists again from the first page, passes on only
objects it has not passed on at that resourceVersion (an object changed meanwhile comes again, newer; the watch
then starts from the new listing's version, as after kopf's own re-listing), and gives up only after RESTARTS.
Objects deleted between the two listings are not reported as deleted, the same as when kopf re-lists after its
watch expired. kopf is pinned (pyproject.toml); `install()` checks that kopf's listing is still the function and
call it wraps (tests/unit/test_kopf_listing.py fails on an upgrade that changes them) and, when it is not, leaves
kopf's listing as it is and unpaginated.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Collection
from typing import Any

from kopf._cogs.clients import errors, fetching, watching  # kopf pinned; private modules

log = logging.getLogger(__name__)

PAGE = 500
GONE = 410
RESTARTS = 5
"""Listings of one kind started again after 410 Gone before kopf sees the error (then fatal, as before)."""

KOPF_FETCH_OBJS = fetching.fetch_objs
KOPF_FETCH_PARAMETERS = ("settings", "resource", "namespace", "logger")
KOPF_CALL = "fetching.fetch_objs("


LEAN_LISTED = frozenset({("camfleet.io", "cameras")})
"""(group, plural) of kinds whose listed bodies kopf receives without metadata.managedFields. kopf keeps every
listed body in its per-object queue until a worker takes it, so at start-up it holds the whole fleet at once;
managedFields are 45% of a Camera's JSON and nothing that handles cameras reads them (kube/drift.py reads them of
recorder and transcoder Deployments, whose bodies stay whole)."""


_LISTED: set[tuple[str | None, str | None, str | None]] = set()
"""(group, plural, namespace or None for cluster-wide) kopf has listed to the end at least once in this process."""


def listed(group: str, plural: str, namespace: str) -> bool:
    """Whether kopf has listed that kind in `namespace` (or cluster-wide) to its last page in this process: until
    then its handlers have seen only part of it. True when camfleet does not wrap kopf's listing (nothing to tell)."""
    if fetching.fetch_objs is not fetch_objs_restarting:
        return True
    return (group, plural, namespace) in _LISTED or (group, plural, None) in _LISTED


def lean(resource: Any, items: Collection[Any]) -> Collection[Any]:
    """Listed items as kopf is to hold them: for LEAN_LISTED kinds, without managedFields."""
    if (getattr(resource, "group", None), getattr(resource, "plural", None)) not in LEAN_LISTED:
        return items
    for item in items:
        (item.get("metadata") or {}).pop("managedFields", None)
    return items


def _identity(item: Any) -> tuple[str, str]:
    """(uid, resourceVersion) of a listed object."""
    metadata = item.get("metadata") or {}
    uid = metadata.get("uid") or f"{metadata.get('namespace')}/{metadata.get('name')}"
    return str(uid), str(metadata.get("resourceVersion") or "")


async def fetch_objs_restarting(
    *, settings: Any, resource: Any, namespace: Any, logger: Any
) -> AsyncIterator[tuple[Collection[Any], str]]:
    """kopf's fetch_objs, started again on 410 Gone (module docstring)."""
    passed: dict[str, str] = {}  # uid -> resourceVersion passed on
    restarts = 0
    while True:
        try:
            async for items, version in KOPF_FETCH_OBJS(
                settings=settings, resource=resource, namespace=namespace, logger=logger
            ):
                fresh = []
                for item in lean(resource, items):
                    uid, resource_version = _identity(item)
                    if passed.get(uid) != resource_version:
                        passed[uid] = resource_version
                        fresh.append(item)
                yield fresh, version
            _LISTED.add((getattr(resource, "group", None), getattr(resource, "plural", None), namespace))
            return
        except errors.APIClientError as error:
            if error.status != GONE or restarts >= RESTARTS:
                raise
            restarts += 1
            log.warning(
                "kopf's listing of %s outlived its continue token after %d objects (410 Gone); listing again",
                resource,
                len(passed),
            )


def kopf_listing_is_wrappable() -> bool:
    """Whether kopf's listing is still the function (keyword arguments) and the call this module wraps."""
    parameters = tuple(inspect.signature(KOPF_FETCH_OBJS).parameters)
    calls_it = KOPF_CALL in inspect.getsource(watching.continuous_watch)
    return parameters == KOPF_FETCH_PARAMETERS and calls_it and inspect.isasyncgenfunction(KOPF_FETCH_OBJS)


def install() -> bool:
    """Put the restarting listing in kopf's place; whether it was (else kopf lists unpaginated, as before)."""
    if fetching.fetch_objs is fetch_objs_restarting:
        return True
    if not kopf_listing_is_wrappable():
        log.warning("kopf's listing is not the one camfleet wraps (kopf upgraded?): listing unpaginated")
        return False
    fetching.fetch_objs = fetch_objs_restarting  # watching.continuous_watch looks it up on each listing
    return True
