"""MediaMTX's authentication hook: where tokens come from, which actions map to which permission, who publishes."""

from __future__ import annotations

from typing import Any

import pytest

from camfleet.gateway import TRANSCODER_USER, MediaMtxAuthRequest, Outcome, decide_mediamtx
from tests.unit.access.builders import NOW, OWNER
from tests.unit.gateway.builders import PUBLISHERS, VIEW_STREET, state, token_for

STREET_PATH = f"{OWNER}/street"


def hook(**fields: Any) -> MediaMtxAuthRequest:
    body = {"action": "read", "path": STREET_PATH, "protocol": "rtsp", "ip": "10.0.0.7", "id": None, **fields}
    return MediaMtxAuthRequest.from_json(body)


def judge(request: MediaMtxAuthRequest) -> Outcome:
    return decide_mediamtx(request, state(), PUBLISHERS, NOW).outcome


def test_the_token_is_taken_from_token_then_password_then_the_jwt_query() -> None:
    token = token_for(VIEW_STREET)

    assert hook(token=token).bearer_token() == token
    assert hook(user="anyone", password=token).bearer_token() == token
    assert hook(query=f"jwt={token}&other=1").bearer_token() == token
    assert hook(token="first", password="second", query="jwt=third").bearer_token() == "first"
    assert hook(query="jwt=a&jwt=b").bearer_token() is None
    assert hook().bearer_token() is None


@pytest.mark.parametrize("where", ["token", "password", "query"])
def test_a_read_with_a_grant_token_is_allowed_wherever_the_client_put_it(where: str) -> None:
    token = token_for(VIEW_STREET)
    fields = {"query": f"jwt={token}"} if where == "query" else {where: token}

    assert judge(hook(**fields)) == Outcome.ALLOWED


def test_playback_needs_the_playback_permission() -> None:
    assert judge(hook(action="playback", password=token_for(VIEW_STREET))) == Outcome.NOT_IN_TOKEN


@pytest.mark.parametrize("action", ["api", "metrics", "pprof", "something-new"])
def test_control_actions_are_never_open_to_gateway_users(action: str) -> None:
    assert judge(hook(action=action, password=token_for(VIEW_STREET))) == Outcome.ACTION_NOT_ALLOWED


@pytest.mark.parametrize("path", ["", "street", "a/b/c/d", "Public/Street", "../etc/passwd", "ns/cam/"])
def test_paths_outside_the_convention_are_refused(path: str) -> None:
    assert judge(hook(path=path, password=token_for(VIEW_STREET))) == Outcome.BAD_PATH


def test_a_profile_path_reads_the_same_camera() -> None:
    assert judge(hook(path=f"{STREET_PATH}/low", password=token_for(VIEW_STREET))) == Outcome.ALLOWED


def test_a_transcoder_publishes_to_its_own_camera_only() -> None:
    password = PUBLISHERS.password_for(STREET_PATH)

    assert judge(hook(action="publish", path=f"{STREET_PATH}/low", user=TRANSCODER_USER, password=password)) == (
        Outcome.ALLOWED
    )
    assert judge(hook(action="publish", path=STREET_PATH, user=TRANSCODER_USER, password=password)) == Outcome.ALLOWED
    other = f"{OWNER}/harbour/low"
    assert judge(hook(action="publish", path=other, user=TRANSCODER_USER, password=password)) == Outcome.BAD_PUBLISHER


def test_a_viewer_token_never_publishes() -> None:
    for fields in ({"password": token_for(VIEW_STREET)}, {"token": token_for(VIEW_STREET)}):
        assert judge(hook(action="publish", **fields)) == Outcome.BAD_PUBLISHER


def test_transcoder_credentials_never_read() -> None:
    password = PUBLISHERS.password_for(STREET_PATH)

    assert judge(hook(user=TRANSCODER_USER, password=password)) == Outcome.BAD_PUBLISHER


def test_publishing_needs_configured_credentials_and_a_known_camera() -> None:
    publish = hook(action="publish", user=TRANSCODER_USER, password=PUBLISHERS.password_for(STREET_PATH))
    assert decide_mediamtx(publish, state(), None, NOW).outcome == Outcome.BAD_PUBLISHER

    ghost = f"{OWNER}/ghost"
    publish_ghost = hook(action="publish", path=ghost, user=TRANSCODER_USER, password=PUBLISHERS.password_for(ghost))
    assert judge(publish_ghost) == Outcome.UNKNOWN_CAMERA
    assert judge(hook(action="publish", path="nope")) == Outcome.BAD_PATH


@pytest.mark.parametrize(
    "body",
    [
        [],
        "read",
        {"path": "a/b"},
        {"action": 3},
        {"action": "read", "id": 7},
        {"action": "read", "password": "x" * 20_000},
    ],
    ids=["list", "string", "no-action", "action-number", "id-number", "huge-password"],
)
def test_bodies_of_another_shape_are_refused_without_echoing_them(body: Any) -> None:
    with pytest.raises(ValueError, match=r"body|field") as caught:
        MediaMtxAuthRequest.from_json(body)
    assert "xxxx" not in str(caught.value)


def test_secrets_are_not_in_the_repr() -> None:
    token = token_for(VIEW_STREET)
    request = hook(password="hunter2", token=token, query=f"jwt={token}")

    assert "hunter2" not in repr(request)
    assert token not in repr(request)
