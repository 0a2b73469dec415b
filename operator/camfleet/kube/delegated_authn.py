"""Delegated authentication against the cluster (as k8s.io/apiserver does it for aggregated API servers): the
cluster's client CA, and TokenReviews. `gateway.people` decides what a verified person may do."""

from __future__ import annotations

import logging

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.authentication_v1 import TokenReviewSpec
from lightkube.resources.authentication_v1 import TokenReview
from lightkube.resources.core_v1 import ConfigMap

from camfleet.gateway.people import (
    AUTHENTICATION_CONFIGMAP,
    AUTHENTICATION_CONFIGMAP_NAMESPACE,
    BEARER_TOKEN,
    CLIENT_CA_KEY,
    PERSON_TOKEN_HEADER,
    Person,
    Review,
    TokenReviewFailed,
)

log = logging.getLogger(__name__)


def kube_token_review(client: AsyncClient) -> Review:
    """A TokenReview through the operator's kube client (RBAC: create tokenreviews, `system:auth-delegator`)."""

    async def review(token: str) -> Person | None:
        try:
            answer = await client.create(TokenReview(spec=TokenReviewSpec(token=token)))
        except ApiError as error:
            raise TokenReviewFailed(f"TokenReview failed: {error.status.code} {error.status.message}") from None
        status = answer.status
        if status is None or not status.authenticated or status.user is None or not status.user.username:
            return None
        return Person(status.user.username, tuple(status.user.groups or ()), BEARER_TOKEN)

    return review


async def cluster_client_ca(client: AsyncClient) -> str | None:
    """The cluster's client CA bundle (PEM) from `kube-system/extension-apiserver-authentication`, which every
    kube-apiserver publishes; None (logged) when it cannot be read: then only bearer tokens prove a person.
    RBAC: the standard Role `extension-apiserver-authentication-reader` in kube-system."""
    try:
        found = await client.get(ConfigMap, AUTHENTICATION_CONFIGMAP, namespace=AUTHENTICATION_CONFIGMAP_NAMESPACE)
    except ApiError as error:
        log.warning(
            "cannot read the cluster's client CA (%s/%s): %s; PTZ callers can prove who they are only with a bearer"
            " token (%s)",
            AUTHENTICATION_CONFIGMAP_NAMESPACE,
            AUTHENTICATION_CONFIGMAP,
            error.status.message,
            PERSON_TOKEN_HEADER,
        )
        return None
    bundle = (found.data or {}).get(CLIENT_CA_KEY)
    if not bundle:
        log.warning(
            "the cluster publishes no %s: PTZ callers can prove who they are only with a bearer token", CLIENT_CA_KEY
        )
    return bundle or None
