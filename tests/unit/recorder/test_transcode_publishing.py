"""The transcoder's flags and its publishing relay: masks as polygons, the publisher password only in memory."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from camfleet.privacy_masks import MaskPolygon
from camfleet.recorder_pod.config import ConfigError
from camfleet.recorder_pod.rtsp_publish_relay import PublishRelay, content_length, rewrite_request_head
from camfleet.recorder_pod.transcode import command, load, prepare_masks

ENV = {"CAMFLEET_STREAM_URL": "rtsp://127.0.0.1:8554/cam/main", "CAMFLEET_PUBLISH_PASSWORD": "pub-secret"}
FLAGS = ["--output", "rtsp://gw:8554/ns/cam/masked", "--width", "320", "--height", "180", "--fps", "5"]


def test_masks_become_a_pgm_input_and_a_filter_graph(tmp_path: Path) -> None:
    config, _ = load([*FLAGS, "--mask", "w:0.1,0.1;0.5,0.1;0.3,0.6", "--mask", "s:0,0;1,0;1,0.1"], ENV)
    assert config.masks == (
        MaskPolygon("w", ((0.1, 0.1), (0.5, 0.1), (0.3, 0.6))),
        MaskPolygon("s", ((0.0, 0.0), (1.0, 0.0), (1.0, 0.1))),
    )
    prepared = prepare_masks(config, tmp_path)
    assert Path(str(prepared.mask_file)).read_bytes().startswith(b"P5\n320 180\n255\n")
    argv = command(prepared, ["-i", "pipe:3"], "rtsp://127.0.0.1:40000/ns/cam/masked")
    assert argv[argv.index("-filter_complex") + 1].startswith("[0:v]scale=320:180,fps=5,")
    assert argv[argv.index("-map") + 1] == "[masked]"
    assert argv[-1] == "rtsp://127.0.0.1:40000/ns/cam/masked"
    assert "pub-secret" not in " ".join(argv)


def test_without_masks_only_scale_and_rate(tmp_path: Path) -> None:
    config, _ = load(FLAGS, ENV)
    argv = command(prepare_masks(config, tmp_path), ["-i", "pipe:3"], config.output)
    assert argv[argv.index("-vf") + 1] == "scale=320:180,fps=5"
    assert "-filter_complex" not in argv
    assert list(tmp_path.iterdir()) == []


def test_the_publisher_password_is_a_secret_to_redact() -> None:
    config, _ = load(FLAGS, ENV)
    assert "pub-secret" in config.secrets
    assert "pub-secret" not in repr(config)


@pytest.mark.parametrize(
    "flags",
    [
        ["--mask", "w:0.1,0.1;0.5"],
        ["--mask", "w:0.1,0.1;2,0.1;0.3,0.6"],
        ["--output", "rtsp://camfleet-transcoder:pw@gw:8554/ns/cam/masked"],
    ],
)
def test_bad_flags_are_refused(flags: list[str]) -> None:
    with pytest.raises(ConfigError):
        load([*FLAGS, *flags], ENV)


def test_the_relay_names_the_gateway_and_adds_basic_auth_to_every_request() -> None:
    head = (
        b"ANNOUNCE rtsp://127.0.0.1:40000/ns/cam/masked RTSP/1.0\r\n"
        b"CSeq: 2\r\nAuthorization: Basic Zm9vOmJhcg==\r\nContent-Length: 17\r\n\r\n"
    )
    auth = b"Authorization: Basic " + base64.b64encode(b"camfleet-transcoder:pw")
    rewritten = rewrite_request_head(head, b"rtsp://127.0.0.1:40000", b"rtsp://gw:8554", auth)
    lines = rewritten.split(b"\r\n")
    assert lines[0] == b"ANNOUNCE rtsp://gw:8554/ns/cam/masked RTSP/1.0"
    assert [line for line in lines if line.lower().startswith(b"authorization")] == [auth]
    assert rewritten.endswith(b"\r\n\r\n")
    assert content_length(head) == 17
    assert content_length(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n") == 0


def test_the_relay_refuses_a_gateway_url_with_credentials() -> None:
    with pytest.raises(ValueError, match="without credentials"):
        PublishRelay("rtsp://u:p@gw:8554/ns/cam/masked", "camfleet-transcoder", "pw")
