"""List, then watch from the listing's resourceVersion, forever: an informer without a cache of its own.

The caller keeps what it needs of each object (`listed` gets the whole listing, `changed` every later event).
A watch whose resourceVersion is too old (410 Gone, after a long disconnection or etcd compaction) and any
other failure start over with a fresh listing, so no change is ever lost between two watches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError

log = logging.getLogger(__name__)
PAGE = 500
RELIST_PAUSE_SECONDS = 2.0

Listed = Callable[[list[dict[str, Any]]], None]
Changed = Callable[[str, dict[str, Any]], None]


def _plain(item: Any) -> dict[str, Any]:
    return item.to_dict() if hasattr(item, "to_dict") else dict(item)


async def list_and_watch(
    client: AsyncClient,
    resource: Any,
    namespace: str,
    listed: Listed,
    changed: Changed,
    labels: dict[str, Any] | None = None,
) -> None:
    """Follow `resource` in `namespace` ("*": all) until cancelled."""
    while True:
        try:
            listing = client.list(resource, namespace=namespace, labels=labels or {}, chunk_size=PAGE)
            bodies = [_plain(item) async for item in listing]
            listed(bodies)
            version = listing.resourceVersion
            async for kind, item in client.watch(
                resource, namespace=namespace, labels=labels or {}, resource_version=version
            ):
                changed(kind, _plain(item))
        except asyncio.CancelledError:
            raise
        except ApiError as error:
            level = logging.INFO if error.status.code == 410 else logging.WARNING
            log.log(level, "watch of %s broke (%s); listing again", resource.__name__, error.status.message)
        except Exception:
            log.warning("watch of %s broke; listing again", resource.__name__, exc_info=True)
        await asyncio.sleep(RELIST_PAUSE_SECONDS)
