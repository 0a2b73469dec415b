"""Authentication against quirky devices, and passwords that never leak."""

from __future__ import annotations

import logging
import traceback

import pytest

from camfleet.onvif import AuthFailed, AuthMode
from camfleet.sim import Camera, Quirk

from .conftest import ClientFactory, connect

WRONG = "n0t-the-Passw0rd"


async def test_wrong_password_fails_in_every_mode_and_leaks_nowhere(
    make_client: ClientFactory, camera: Camera, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(password=WRONG)
    await client.read_clock()
    with pytest.raises(AuthFailed) as raised:
        await client.authenticate()
    error = raised.value
    assert error.fault_code == "HTTP 401"  # the last mode tried was HTTP digest
    assert "ter:NotAuthorized" in str(error)  # and the UsernameToken attempt is explained too
    rendered = "".join(traceback.format_exception(error)) + repr(error) + caplog.text
    for secret in (WRONG, camera.password):
        assert secret not in rendered
    assert caplog.records, "debug logging was captured, so the scan above saw the client's log lines"


async def test_camera_one_hour_off_authenticates_with_its_own_clock(make_client: ClientFactory, camera: Camera) -> None:
    camera.skew_seconds = 3600
    naive = make_client(auth_order=[AuthMode.WS_USERNAME_TOKEN])
    with pytest.raises(AuthFailed):
        await naive.authenticate()  # signed with local time: the camera refuses

    client = make_client(auth_order=[AuthMode.WS_USERNAME_TOKEN])
    reading = await client.read_clock()
    assert 3599 <= reading.offset.total_seconds() <= 3601
    assert (await client.authenticate()).serial_number
    assert client.auth_mode is AuthMode.WS_USERNAME_TOKEN


async def test_fault_instead_of_digest_challenge_falls_back_to_username_token(
    make_client: ClientFactory, camera: Camera
) -> None:
    camera.quirks = frozenset({Quirk.FAULT_NOT_DIGEST})
    client = make_client(auth_order=[AuthMode.HTTP_DIGEST, AuthMode.WS_USERNAME_TOKEN])
    await connect(client)
    assert client.auth_mode is AuthMode.WS_USERNAME_TOKEN


async def test_digest_only_camera_is_reached_with_http_digest(make_client: ClientFactory, camera: Camera) -> None:
    camera.quirks = frozenset({Quirk.DIGEST_ONLY})
    client = make_client()
    await connect(client)
    assert client.auth_mode is AuthMode.HTTP_DIGEST
    assert (await client.read_encoder()).width == 1920


async def test_clock_jump_after_authentication_is_survived(make_client: ClientFactory, camera: Camera) -> None:
    client = make_client(auth_order=[AuthMode.WS_USERNAME_TOKEN])
    await connect(client)
    camera.skew_seconds = -7200  # e.g. a reboot reset the camera's clock
    assert (await client.device_info()).serial_number
