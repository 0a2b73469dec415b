"""ffmpeg's command line and segment list, the restart backoff and the readiness probe."""

from __future__ import annotations

import os
from pathlib import Path

from camfleet.recorder_pod.ffmpeg import INPUT_PROTOCOLS, command, parse_segment_list_line, stream_source
from camfleet.recorder_pod.ffmpeg_restart import MAX_DELAY_SECONDS, restart_delay
from camfleet.recorder_pod.http import readiness


def test_ffmpeg_copies_the_stream_without_re_encoding() -> None:
    source = stream_source("rtsp://cam/live", "admin", "s3cret", 10, "cam")
    try:
        argv = command("ffmpeg", source.args, Path("/data/segments"), 60, 42)
        listing = os.read(source.fd, 4096).decode()
    finally:
        source.close()
    joined = " ".join(argv)
    assert "s3cret" not in joined
    assert f"-f concat -safe 0 -protocol_whitelist {INPUT_PROTOCOLS} -i pipe:{source.fd}" in joined
    assert "file 'rtsp://admin:s3cret@cam/live'" in listing
    assert "option rtsp_transport 'tcp'" in listing
    assert "option timeout '10000000'" in listing
    assert "-c copy" in joined
    assert "-vcodec" not in argv
    assert "-c:v" not in argv
    assert "-segment_time 60" in joined
    assert "-segment_format_options flush_packets=1" in joined
    assert "-segment_start_number 42" in joined
    assert "-segment_list pipe:1 -segment_list_type csv" in joined
    assert argv[-1] == "/data/segments/seg-%09d.ts"


def test_credentials_go_only_to_the_cameras_own_host() -> None:
    foreign = stream_source("rtsp://evil.example:554/live", "admin", "s3cret", 10, "cam")
    try:
        assert not foreign.authenticated
        assert "s3cret" not in os.read(foreign.fd, 4096).decode()
    finally:
        foreign.close()
    own = stream_source("rtsp://CAM:554/live", "admin", "s3cret", 10, "cam")
    own.close()
    assert own.authenticated


def test_segment_list_lines_name_finished_segments() -> None:
    finished = parse_segment_list_line("seg-000000007.ts,5.933333,10.933333\n")
    assert finished is not None
    assert finished.name == "seg-000000007.ts"
    assert abs(finished.duration - 5.0) < 1e-6
    assert parse_segment_list_line("") is None
    assert parse_segment_list_line("frame=  200 fps= 17") is None


def test_restart_delay_doubles_up_to_a_minute() -> None:
    delays = [restart_delay(failures) for failures in range(10)]
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert delays == sorted(delays)
    assert max(delays) == MAX_DELAY_SECONDS


def test_ready_only_while_segments_keep_arriving() -> None:
    assert readiness(True, last_segment_at=100.0, now=105.0, segment_seconds=5, stopped_reason="") == (
        True,
        "recording",
    )
    stalled, why = readiness(True, last_segment_at=100.0, now=200.0, segment_seconds=5, stopped_reason="")
    assert not stalled
    assert "no segment" in why
    assert not readiness(True, last_segment_at=None, now=200.0, segment_seconds=5, stopped_reason="")[0]


def test_not_ready_while_stopped_says_why() -> None:
    ready, why = readiness(False, last_segment_at=100.0, now=101.0, segment_seconds=5, stopped_reason="volume full")
    assert not ready
    assert "volume full" in why
