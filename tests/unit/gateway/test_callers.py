"""Gateway credentials: who may ask the decision endpoint, from the Secret's data to an Authorization header."""

from __future__ import annotations

import base64

import pytest

from camfleet.gateway.callers import (
    Caller,
    GatewayCallers,
    GatewayCredential,
    credentials_from_secret_data,
    parse_departments,
    secret_data,
)

MEDIAMTX = GatewayCredential("mediamtx", "a" * 43)
WALL = GatewayCredential("video-wall", "b" * 43, frozenset({"transport", "water"}))


def basic(name: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{token}".encode()).decode()


def test_basic_and_bearer_prove_the_gateway() -> None:
    callers = GatewayCallers([MEDIAMTX, WALL])

    assert callers.authenticate(basic("mediamtx", "a" * 43)) == Caller("mediamtx")
    assert callers.authenticate(f"Bearer {'b' * 43}") == Caller("video-wall", frozenset({"transport", "water"}))
    assert callers.authenticate(f"bearer   {'a' * 43}  ") == Caller("mediamtx")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer ",
        "Bearer " + "c" * 43,
        basic("mediamtx", "b" * 43),  # another gateway's token under this name
        basic("nobody", "a" * 43),
        basic("mediamtx", ""),
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic %%%",
        "Digest username=mediamtx",
        "a" * 43,
    ],
)
def test_anything_else_proves_nothing(header: str | None) -> None:
    assert GatewayCallers([MEDIAMTX, WALL]).authenticate(header) is None


def test_a_replaced_set_takes_effect_at_once() -> None:
    callers = GatewayCallers([MEDIAMTX])
    callers.replace([WALL])

    assert callers.authenticate(basic("mediamtx", "a" * 43)) is None
    assert callers.names() == ["video-wall"]
    assert len(GatewayCallers()) == 0


def test_departments_are_what_the_gateway_speaks_for() -> None:
    wall = Caller("video-wall", parse_departments("transport, water\nparks"))

    assert wall.speaks_for("parks")
    assert not wall.speaks_for("police")
    assert not Caller("mediamtx").speaks_for("transport")


def test_the_secret_round_trip_and_bad_entries_are_named_without_their_values() -> None:
    data = {**secret_data(MEDIAMTX), **secret_data(WALL)}
    data["short.token"] = base64.b64encode(b"too-short").decode()
    data["Bad_Name.token"] = base64.b64encode(b"d" * 43).decode()
    data["unrelated"] = base64.b64encode(b"x").decode()

    credentials, problems = credentials_from_secret_data(data)

    assert credentials == [MEDIAMTX, WALL]
    assert len(problems) == 2
    assert not any("too-short" in problem or "d" * 43 in problem for problem in problems)


def test_a_credential_needs_a_dns_label_and_a_long_token() -> None:
    with pytest.raises(ValueError, match="DNS label"):
        GatewayCredential("Media.MTX", "a" * 43)
    with pytest.raises(ValueError, match="shorter than 32"):
        GatewayCredential("mediamtx", "short")
    assert "a" * 43 not in repr(MEDIAMTX)
