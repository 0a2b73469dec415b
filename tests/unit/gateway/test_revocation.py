"""Revoking a grant's credentials goes through the gateway service: the door closes at once, live sessions are
ended, `camfleet_gateway_sessions_ended_total` counts them, and a session left running is logged."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import pytest
from httpx import Request, Response
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import Secret
from prometheus_client import REGISTRY

from camfleet.clock import FakeClock
from camfleet.controllers.credentials import GrantCredentials, access_secret_name
from camfleet.gateway import Gateway, TerminationReport
from tests.unit.gateway.builders import KEYS, UID, state

GRANT = UID["view-street"]


class Secrets:
    """The token Secrets of one namespace, as far as the credentials keeper reads and deletes them."""

    def __init__(self, *names: str) -> None:
        self.names = set(names)

    async def get(self, resource: Any, name: str, namespace: str | None = None) -> Secret:
        if name not in self.names:
            request = Request("GET", f"https://api/namespaces/{namespace}/secrets/{name}")
            raise ApiError(request=request, response=Response(404, request=request, json={"code": 404}))
        # camfleet's own token Secret: its labels and the grant's uid as owner (anything else is left alone)
        labels = {"app.kubernetes.io/managed-by": "camfleet", "camfleet.io/grant": name.removesuffix("-access")}
        owner = OwnerReference(apiVersion="camfleet.io/v1alpha1", kind="SharingGrant", name="g", uid=GRANT)
        return Secret(metadata=ObjectMeta(name=name, namespace=namespace, labels=labels, ownerReferences=[owner]))

    async def delete(self, resource: Any, name: str, namespace: str | None = None) -> None:
        self.names.discard(name)


class Kicks:
    """A media gateway where one viewer's session ends and another's kick fails."""

    def __init__(self, door: list[Gateway], fail: bool = False) -> None:
        self.door, self.fail = door, fail
        self.door_closed_first: list[bool] = []

    def session_opened(self, session_id: str, grant_id: str) -> None:
        pass

    async def end_sessions(self, grant_id: str, cameras: Collection[str] = (), **_: object) -> TerminationReport:
        self.door_closed_first.append(self.door[0].state.is_revoked(grant_id))
        if self.fail:
            raise ConnectionError("control API unreachable")
        return TerminationReport(ended=("rtspSession s1",), failed=("rtspSession s2: kick answered 500",))


def ended(result: str) -> float:
    return REGISTRY.get_sample_value("camfleet_gateway_sessions_ended_total", {"result": result}) or 0.0


def keeper(secrets: Secrets, fail: bool = False) -> tuple[GrantCredentials, Gateway, Kicks]:
    door: list[Gateway] = []
    kicks = Kicks(door, fail)
    gateway = Gateway(state(), terminator=kicks, audit_decisions=False)
    door.append(gateway)
    return GrantCredentials(secrets, gateway, KEYS, FakeClock()), gateway, kicks  # type: ignore[arg-type]


async def test_an_expiry_revocation_counts_ended_sessions_and_logs_a_failed_kick(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets = Secrets(access_secret_name("view-street"))
    credentials, gateway, kicks = keeper(secrets)
    before = ended("ended"), ended("failed")

    with caplog.at_level(logging.WARNING, logger="camfleet.gateway.service"):
        taken = await credentials.grant_inactive("viewers", "view-street", GRANT, "Expired", terminal=True)

    assert taken
    assert not secrets.names, "the token Secret is deleted"
    assert gateway.state.is_revoked(GRANT)
    assert kicks.door_closed_first == [True], "the door closes before sessions are ended"
    assert (ended("ended"), ended("failed")) == (before[0] + 1, before[1] + 1)
    assert any(GRANT in record.getMessage() and "kick answered 500" in record.getMessage() for record in caplog.records)


async def test_a_media_gateway_that_fails_is_logged_and_counted_and_access_still_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets = Secrets(access_secret_name("view-street"))
    credentials, gateway, _ = keeper(secrets, fail=True)
    failed_before = ended("failed")

    with caplog.at_level(logging.WARNING, logger="camfleet.gateway.service"):
        assert await credentials.grant_inactive("viewers", "view-street", GRANT, "Denied", terminal=True)

    assert gateway.state.is_revoked(GRANT)
    assert not secrets.names
    assert ended("failed") == failed_before + 1
    assert any("could not end its live sessions" in record.getMessage() for record in caplog.records)


async def test_a_grant_with_nothing_to_take_away_ends_no_sessions() -> None:
    credentials, gateway, kicks = keeper(Secrets())
    before = ended("ended")

    assert not await credentials.grant_inactive("viewers", "view-street", GRANT, "Denied", terminal=True)

    assert gateway.state.is_revoked(GRANT), "the door is closed all the same"
    assert kicks.door_closed_first == [], "no session listing for a grant that never had access"
    assert ended("ended") == before
