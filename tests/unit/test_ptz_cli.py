"""`kubectl camfleet ptz`: what each command sends, and that credentials come from files, never from argv."""

from __future__ import annotations

from pathlib import Path

import pytest

from camfleet.cli import build_parser
from camfleet.ptz_cli import EXIT_USAGE, _credential, ptz_command, request_body


def parse(*argv: str) -> object:
    return build_parser().parse_args(["ptz", *argv])


def test_a_move_sends_the_velocities_and_the_person() -> None:
    args = parse("move", "transport/junction", "--url", "https://x", "--person", "Wang Lei", "--pan", "0.3",
                 "--seconds", "2")  # fmt: skip
    assert request_body(args) == {
        "camera": "transport/junction",
        "person": "Wang Lei",
        "move": {"kind": "continuous", "pan": 0.3, "tilt": 0.0, "zoom": 0.0, "timeoutSeconds": 2.0},
    }
    relative = parse("move", "transport/junction", "--person", "w", "--relative", "--tilt", "-0.1")
    assert request_body(relative)["move"] == {"kind": "relative", "pan": 0.0, "tilt": -0.1, "zoom": 0.0}


def test_lock_and_preset_carry_their_arguments() -> None:
    assert request_body(parse("lock", "a/b", "--person", "z", "--minutes", "15"))["lockMinutes"] == 15
    assert request_body(parse("preset", "a/b", "--person", "z", "--preset", "gate"))["preset"] == "gate"
    with pytest.raises(ValueError, match="--preset"):
        request_body(parse("preset", "a/b", "--person", "z"))


def test_credentials_are_read_from_files(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJFZERTQSJ9.e30.sig\n")
    args = parse("stop", "a/b", "--person", "z", "--token-file", str(token))
    body = request_body(args)
    assert _credential(args, body) == {}
    assert body["token"] == "eyJhbGciOiJFZERTQSJ9.e30.sig"
    gateway = parse("stop", "a/b", "--person", "z", "--gateway-token-file", str(token), "--department", "owner")
    body = request_body(gateway)
    assert _credential(gateway, body) == {"Authorization": "Bearer eyJhbGciOiJFZERTQSJ9.e30.sig"}
    assert body["department"] == "owner"
    assert "token" not in body
    without = parse("stop", "a/b", "--url", "https://127.0.0.1:9", "--person", "z")
    assert ptz_command(without) == EXIT_USAGE, "no credential: a usage error before any request"
