"""`kubectl camfleet ptz`: what each command sends, and that credentials come from files and the kubeconfig, never
from argv: the person is whoever the kubeconfig's credential proves."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest
import yaml

from camfleet.cli import build_parser
from camfleet.ptz_cli import EXIT_USAGE, _credential, person_credential, ptz_command, request_body


def parse(*argv: str) -> object:
    return build_parser().parse_args(["ptz", *argv])


def test_a_move_sends_the_velocities() -> None:
    args = parse("move", "transport/junction", "--url", "https://x", "--pan", "0.3", "--seconds", "2")
    assert request_body(args) == {
        "camera": "transport/junction",
        "move": {"kind": "continuous", "pan": 0.3, "tilt": 0.0, "zoom": 0.0, "timeoutSeconds": 2.0},
    }
    relative = parse("move", "transport/junction", "--relative", "--tilt", "-0.1")
    assert request_body(relative)["move"] == {"kind": "relative", "pan": 0.0, "tilt": -0.1, "zoom": 0.0}


def test_lock_and_preset_carry_their_arguments() -> None:
    assert request_body(parse("lock", "a/b", "--minutes", "15"))["lockMinutes"] == 15
    assert request_body(parse("preset", "a/b", "--preset", "gate"))["preset"] == "gate"
    with pytest.raises(ValueError, match="--preset"):
        request_body(parse("preset", "a/b"))


def kubeconfig(folder: Path, user: dict[str, str]) -> Path:
    path = folder / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return path


def test_a_grant_token_goes_in_the_body_and_the_person_is_the_kubeconfigs_bearer_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJFZERTQSJ9.e30.sig\n")
    config = kubeconfig(tmp_path, {"token": "person-bearer"})
    args = parse("stop", "a/b", "--token-file", str(token), "--kubeconfig", str(config))
    body = request_body(args)
    assert _credential(args, body, ssl.create_default_context()) == {"X-Camfleet-Person-Token": "person-bearer"}
    assert body == {"camera": "a/b", "token": "eyJhbGciOiJFZERTQSJ9.e30.sig"}, "no person stated: it is proved"
    stated = parse("stop", "a/b", "--token-file", str(token), "--kubeconfig", str(config), "--person", "Wang Lei")
    with pytest.raises(ValueError, match="with --token-file you are the person"):
        _credential(stated, request_body(stated), ssl.create_default_context())


def test_the_kubeconfigs_client_certificate_is_presented_in_tls(tmp_path: Path) -> None:
    from camfleet.kube.webhook_tls import make_webhook_certificate

    made = make_webhook_certificate(tmp_path / "pki", ["127.0.0.1"])
    data = {
        "client-certificate-data": base64.b64encode(made.certfile.read_bytes()).decode(),
        "client-key-data": base64.b64encode(made.pkeyfile.read_bytes()).decode(),
    }
    tls = ssl.create_default_context()
    assert person_credential(str(kubeconfig(tmp_path, data)), None, tls) == {}, "no header: the certificate proves"
    files = {"client-certificate": str(made.certfile), "client-key": str(made.pkeyfile)}
    assert person_credential(str(kubeconfig(tmp_path, files)), "ctx", ssl.create_default_context()) == {}
    with pytest.raises(ValueError, match="neither a client certificate nor a token"):
        person_credential(str(kubeconfig(tmp_path, {"username": "u", "password": "p"})), None, tls)


def test_a_console_states_its_user(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("console-credential\n")
    gateway = parse("stop", "a/b", "--person", "z", "--gateway-token-file", str(token), "--department", "owner")
    body = request_body(gateway)
    assert _credential(gateway, body, ssl.create_default_context()) == {"Authorization": "Bearer console-credential"}
    assert body == {"camera": "a/b", "person": "z", "department": "owner"}
    silent = parse("stop", "a/b", "--gateway-token-file", str(token), "--department", "owner")
    with pytest.raises(ValueError, match="--person is required with --gateway-token-file"):
        _credential(silent, request_body(silent), ssl.create_default_context())
    without = parse("stop", "a/b", "--url", "https://127.0.0.1:9")
    assert ptz_command(without) == EXIT_USAGE, "no credential: a usage error before any request"
