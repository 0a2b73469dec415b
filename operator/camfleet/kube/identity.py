"""Who is camfleet to the API server: the operator's own identity (SelfSubjectReview), and any requester that
may write RecordingPolicy status (SubjectAccessReview), which only camfleet operators do: another replica, shard
or release. The retention guard lets those, and no other, do what a recording policy says to a retention volume."""

from __future__ import annotations

import logging

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.resources.authentication_v1 import SelfSubjectReview
from lightkube.resources.authorization_v1 import SubjectAccessReview

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


async def may_write_policy_status(client: AsyncClient, username: str, groups: tuple[str, ...], namespace: str) -> bool:
    """Whether the requester may patch RecordingPolicy status in the namespace (False when that cannot be asked)."""
    review = SubjectAccessReview(
        spec=SubjectAccessReviewSpec(
            user=username,
            groups=list(groups),
            resourceAttributes=ResourceAttributes(
                group="camfleet.io", resource="recordingpolicies", subresource="status", verb="patch",
                namespace=namespace,
            ),
        )
    )  # fmt: skip
    try:
        answer = await client.create(review)
    except ApiError as error:
        log.warning("could not ask whether %s is a camfleet operator: %s", username, error.status.message)
        return False
    return bool(answer.status and answer.status.allowed)
