"""Stream credentials never reach logs, exceptions or the configuration's printed form."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from camfleet.recorder_pod.cli import RedactingFormatter
from camfleet.recorder_pod.config import ConfigError, load, split_credentials
from camfleet.recorder_pod.ffmpeg import url_with_credentials
from camfleet.recorder_pod.redact import redact

PASSWORD = "s3cr:t/p@ss w0rd"
ENCODED = "s3cr%3At%2Fp%40ss%20w0rd"


@pytest.mark.parametrize(
    "line",
    [
        f"Input #0, rtsp, from 'rtsp://admin:{ENCODED}@10.0.0.7:554/Streaming/101':",
        f"[tcp @ 0x5581] Connection to tcp://admin:{ENCODED}@10.0.0.7:554 failed: Connection refused",
        f"rtsp://admin:{ENCODED}@10.0.0.7/live: Server returned 401 Unauthorized (authorization failed)",
        f"[rtsp @ 0x55] method DESCRIBE failed: 401 Unauthorized; auth header carried {PASSWORD}",
    ],
)
def test_ffmpeg_lines_lose_the_password(line: str) -> None:
    cleaned = redact(line, [PASSWORD])
    assert PASSWORD not in cleaned
    assert ENCODED not in cleaned


def test_userinfo_is_masked_even_without_knowing_the_secret() -> None:
    assert redact("from 'rtsp://viewer:hunter2@cam.local/stream'") == "from 'rtsp://***@cam.local/stream'"


def test_lines_without_credentials_are_untouched() -> None:
    line = "[segment @ 0x55] Opening '/data/segments/seg-000000002.ts' for writing"
    assert redact(line, [PASSWORD]) == line


def test_credentials_survive_a_round_trip_through_the_url() -> None:
    url = url_with_credentials("rtsp://10.0.0.7:554/Streaming/101", "ad min", PASSWORD)
    assert url == f"rtsp://ad%20min:{ENCODED}@10.0.0.7:554/Streaming/101"
    assert split_credentials(url) == ("rtsp://10.0.0.7:554/Streaming/101", "ad min", PASSWORD)


def test_credentials_come_from_files_mounted_from_the_secret(tmp_path: Path) -> None:
    (tmp_path / "password").write_text(PASSWORD + "\n")
    environ = {
        "CAMFLEET_STREAM_URL": "rtsp://10.0.0.7/live",
        "CAMFLEET_STREAM_USERNAME": "admin",
        "CAMFLEET_STREAM_PASSWORD_FILE": str(tmp_path / "password"),
    }
    config, _ = load(["--data-dir", str(tmp_path)], environ)
    assert config.password is not None
    assert config.password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(config)
    assert PASSWORD not in str(config)


def test_credentials_in_an_environment_url_are_moved_out_of_it(tmp_path: Path) -> None:
    environ = {"CAMFLEET_STREAM_URL": f"rtsp://admin:{ENCODED}@10.0.0.7/live"}
    config, _ = load(["--data-dir", str(tmp_path)], environ)
    assert config.stream_url == "rtsp://10.0.0.7/live"
    assert (config.username, config.password and config.password.get_secret_value()) == ("admin", PASSWORD)


def test_a_password_in_a_flag_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load(["--stream-url", f"rtsp://admin:{ENCODED}@10.0.0.7/live", "--data-dir", str(tmp_path)], {})
    assert PASSWORD not in str(refused.value)
    assert ENCODED not in str(refused.value)


def test_retention_below_the_legal_floor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="legal floor"):
        load(["--stream-url", "rtsp://cam/live", "--retention-days", "7", "--data-dir", str(tmp_path)], {})


def test_the_log_formatter_masks_the_password_even_in_tracebacks() -> None:
    formatter = RedactingFormatter([PASSWORD])
    try:
        raise RuntimeError(f"could not open rtsp://admin:{ENCODED}@cam/live with {PASSWORD}")
    except RuntimeError:
        record = logging.LogRecord("camfleet", logging.ERROR, __file__, 1, "failed: %s", (PASSWORD,), None)
        record.exc_info = sys.exc_info()
    text = formatter.format(record)
    assert "RuntimeError" in text
    assert PASSWORD not in text
    assert ENCODED not in text


def test_a_password_learned_while_running_is_masked_from_then_on_and_an_old_one_stays_masked() -> None:
    """A group member joining (or a rotation) brings a password the process did not have at start."""
    formatter = RedactingFormatter([PASSWORD])
    formatter.add(["joined-Pa55/word", ""])

    def said(text: str) -> str:
        return formatter.format(logging.LogRecord("camfleet", logging.INFO, __file__, 1, "%s", (text,), None))

    assert "joined-Pa55/word" not in said("ffmpeg: joined-Pa55/word and joined-Pa55%2Fword")
    assert "joined-Pa55%2Fword" not in said("joined-Pa55%2Fword")
    assert PASSWORD not in said(PASSWORD)
