"""Runs `rtsp_server.py` under the system Python as a child process and stops it again."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from types import TracebackType

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("rtsp_server.py")
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 5.0


class RtspServerError(RuntimeError):
    pass


async def _tail(stream: asyncio.StreamReader | None, keep: int = 4096) -> bytes:
    """Read `stream` to its end, keeping only the last `keep` bytes (for error messages)."""
    tail = b""
    while stream is not None and (chunk := await stream.read(4096)):
        tail = (tail + chunk)[-keep:]
    return tail


class RtspServer:
    """`async with RtspServer(port=0) as rtsp:` then `rtsp.port` is the bound port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8554, python: str = SYSTEM_PYTHON) -> None:
        self.host = host
        self.port = port
        self._python = python
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[bytes] | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            self._python,
            str(SCRIPT),
            "--host",
            self.host,
            "--port",
            str(self.port),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), START_TIMEOUT_SECONDS)
        except TimeoutError:
            line = b""
        words = line.decode(errors="replace").split()
        if len(words) != 2 or words[0] != "READY":
            stderr = await self._stop_and_collect_stderr()
            raise RtspServerError(f"RTSP server did not start: {stderr.strip()[-500:] or 'no output'}")
        self.port = int(words[1])
        # GStreamer may warn on stderr for as long as it runs; a full pipe would stall it.
        self._drain = asyncio.create_task(_tail(self._process.stderr))

    async def stop(self) -> None:
        await self._stop_and_collect_stderr()

    async def _stop_and_collect_stderr(self) -> str:
        process, self._process = self._process, None
        if process is None:
            return ""
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()
        drain, self._drain = self._drain or asyncio.create_task(_tail(process.stderr)), None
        stderr = b""
        with contextlib.suppress(Exception):
            stderr = await asyncio.wait_for(drain, 1.0)
        return stderr.decode(errors="replace")

    async def __aenter__(self) -> RtspServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
