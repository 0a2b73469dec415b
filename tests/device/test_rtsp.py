"""The stream URI a camera hands out plays in real ffmpeg."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from camfleet.onvif import OnvifClient
from camfleet.sim import RtspServer, Simulator, generated_fleet
from camfleet.sim.rtsp import SYSTEM_PYTHON

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None or not Path(SYSTEM_PYTHON).exists(),
    reason="needs Debian packages ffmpeg, python3-gst-1.0, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-ugly",
)


@pytest.fixture
async def sim_with_rtsp() -> AsyncIterator[Simulator]:
    async with RtspServer(port=0) as rtsp, Simulator(generated_fleet(2), rtsp_port=rtsp.port) as simulator:
        yield simulator


COMMAND_TIMEOUT = 30.0


async def run(*command: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, output.decode(errors="replace")


async def test_stream_uri_records_three_seconds_in_ffmpeg(sim_with_rtsp: Simulator, tmp_path: Path) -> None:
    camera = sim_with_rtsp.cameras["cam-0002"]
    async with OnvifClient(sim_with_rtsp.device_url("cam-0002"), camera.username, camera.password) as client:
        await client.read_clock()
        await client.authenticate()
        uri = (await client.stream_uris()).main
    assert uri is not None
    recording = tmp_path / "out.mkv"
    ffmpeg = ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", uri]
    code, output = await run(*ffmpeg, "-t", "3", "-c", "copy", str(recording))
    assert code == 0, output
    code, output = await run(
        "ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=duration", "-of", "json", str(recording)
    )
    probe = json.loads(output)
    assert probe["streams"][0]["codec_name"] == "h264"
    assert float(probe["format"]["duration"]) >= 2.5
