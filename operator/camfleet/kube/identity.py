"""Who the operator is to the API server (SelfSubjectReview): the retention guard lets that identity, and no
other, do what a recording policy says to a retention volume."""

from __future__ import annotations

import logging

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.authentication_v1 import SelfSubjectReview

log = logging.getLogger(__name__)


async def own_username(client: AsyncClient) -> str | None:
    """The operator's own user name; None (logged) when the API server cannot say."""
    try:
        review = await client.create(SelfSubjectReview())
    except ApiError as error:
        log.warning("could not learn the operator's own identity (SelfSubjectReview): %s", error.status.message)
        return None
    info = review.status.userInfo if review.status else None
    return info.username if info is not None else None
