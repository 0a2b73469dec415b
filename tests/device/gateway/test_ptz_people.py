"""Issue 19, Deliver 5 on a real HTTPS server on 127.0.0.1: the operator's listener asks for a client certificate
of the cluster's client CA without requiring one. The PTZ API takes the person from a verified certificate; the
MediaMTX hook and the door (which send none) keep working on the same listener.

The control plane's own CA and TokenReview are exercised in tests/integration/test_ptz_control.py; here the
"cluster CA" is one made for the test, as the operator would read it from kube-system."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from camfleet.control.ptz_board import PtzBoard
from camfleet.control.ptz_relay import DeviceAccess, DeviceUnavailable, PtzRelay
from camfleet.gateway import Gateway, GatewayCallers, server_tls_context, start_gateway_server
from camfleet.gateway.ptz_api import PtzService, add_ptz_routes
from camfleet.kube.webhook_tls import make_webhook_certificate
from tests.device.gateway.test_http import AS_MEDIAMTX, MEDIAMTX, OWNER_VMS, Clock, hook
from tests.device.gateway.test_http import audited as audited  # the fixture (re-exported)
from tests.unit.access.builders import ME, OWNER, grant
from tests.unit.gateway.builders import CAMERAS, PUBLISHERS, VIEW_STREET, state, token_for
from tests.unit.gateway.test_people import _certificate, _client_files, _key_and_name, _pem

STEER = grant(name="steer-street", cameras={"namespace": OWNER, "names": ["street"]})
"""A grant of ME (transport) carrying PTZControl on the owner's street camera."""
STREET = f"{OWNER}/street"


async def no_device(camera: str) -> DeviceAccess:
    raise DeviceUnavailable(f"{camera}: no device in this test (acquire relays nothing)")


class Listener:
    def __init__(self, url: str, serving_ca: Path, folder: Path, ca: tuple[Any, Any]) -> None:
        self.url, self.serving_ca, self.folder, self.ca = url, serving_ca, folder, ca

    def person(self, user: str, *groups: str, forged: bool = False) -> ssl.SSLContext:
        """TLS presenting a certificate of `user` in `groups`: signed by the cluster CA, or self-signed."""
        key, name = _key_and_name(user, *groups)
        issuer, signer = (name, key) if forged else self.ca
        files = _client_files(self.folder, f"{user}-{forged}", _certificate(name, key, issuer, signer, ca=False), key)
        context = self.anonymous()
        context.load_cert_chain(*files)
        return context

    def anonymous(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.serving_ca))


@pytest.fixture
async def listener(tmp_path: Path) -> AsyncIterator[Listener]:
    ca_key, ca_name = _key_and_name("cluster-ca")
    ca = _certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
    served = make_webhook_certificate(tmp_path / "serving", ["127.0.0.1"])
    (tmp_path / "serving-ca.crt").write_bytes(served.ca_pem)
    access = state(VIEW_STREET)
    access.set_grant(f"uid-{STEER.name}", STEER)  # the uid token_for gives a grant without one in UID
    gateway = Gateway(
        access,
        publishers=PUBLISHERS,
        callers=GatewayCallers([MEDIAMTX, OWNER_VMS]),
    )
    clock = Clock()
    ptz = PtzService(gateway, PtzBoard(), PtzRelay(no_device), clock)
    runner = await start_gateway_server(
        gateway,
        "127.0.0.1",
        0,
        tls=server_tls_context(served.certfile, served.pkeyfile, _pem(ca)),
        clock=clock,
        more_routes=lambda app: add_ptz_routes(app, ptz),
    )
    port = runner.addresses[0][1]
    yield Listener(f"https://127.0.0.1:{port}", tmp_path / "serving-ca.crt", tmp_path, (ca_name, ca_key))
    await runner.cleanup()


async def post(
    listener: Listener, route: str, body: dict[str, Any], tls: ssl.SSLContext, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{listener.url}{route}", json=body, ssl=tls, headers=headers) as answer,
    ):
        return answer.status, await answer.json()


async def test_the_hook_and_the_door_keep_working_without_a_client_certificate(listener: Listener) -> None:
    tls = listener.anonymous()
    status, _ = await post(listener, "/v1/mediamtx/auth", hook(password=token_for(VIEW_STREET)), tls, AS_MEDIAMTX)
    assert status == 200, "MediaMTX sends no client certificate"
    decide = {"camera": STREET, "permission": "LiveView", "token": token_for(VIEW_STREET)}
    assert (await post(listener, "/v1/decide", decide, tls, AS_MEDIAMTX))[0] == 200


async def test_the_ptz_person_is_the_certified_user(listener: Listener, audited: list[dict[str, Any]]) -> None:
    body = {"camera": STREET, "token": token_for(STEER, cameras=CAMERAS)}

    status, answer = await post(listener, "/v1/ptz/acquire", body, listener.anonymous())
    assert (status, answer["outcome"]) == (401, "no_identity")
    assert "client certificate" in answer["message"]

    stranger = listener.person("mallory", f"camfleet.io/department:{OWNER}")
    status, answer = await post(listener, "/v1/ptz/acquire", {**body, "person": "alice"}, stranger)
    assert (status, answer["outcome"]) == (403, "denied"), "a person of another department"
    refusal = [r for r in audited if r["action"] == "PtzControlRefused"][-1]
    assert (refusal["person"], refusal["department"], refusal["proof"]) == ("mallory", ME, "client certificate")

    forged = listener.person("alice", f"camfleet.io/department:{ME}", forged=True)
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        await post(listener, "/v1/ptz/acquire", body, forged)

    alice = listener.person("alice", f"camfleet.io/department:{ME}")
    status, answer = await post(listener, "/v1/ptz/acquire", body, alice)
    assert (status, answer["outcome"], answer["holder"]["person"]) == (200, "Granted", "alice")
    granted = [r for r in audited if r["action"] == "PtzControlGranted"][-1]
    assert (granted["person"], granted["department"], granted["credential"]) == (
        "alice",
        ME,
        f"grant {ME}/steer-street",
    )
    assert body["token"] not in str(audited), "the credential never reaches the trail"
