"""A small RTSP player for the burst benchmark: hundreds of viewers in one asyncio process.

Each viewer speaks RTSP over TCP to the gateway (DESCRIBE with the grant token as a `jwt=` query, SETUP of the
video track interleaved on the same connection, PLAY) and reads the RTP packets that follow; a packet with the
marker bit closes a video frame (H.264 over RTP, RFC 6184), whose arrival time is noted. No frame is decoded:
200 ffmpeg processes decoding (or merely copying) the stream do not fit on a 2-core machine, while these
viewers cost almost nothing, so the figure measures the gateway and the operator, not the viewers' machine.
The session ends when the gateway closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass

KEEPALIVE_SECONDS = 3.0


@dataclass
class RtspReader:
    host: str
    port: int
    url: str
    """rtsp://host:port/<path>?jwt=<token>"""
    frames: int = 0
    last_frame_at: float | None = None
    ended: bool = False
    error: str = ""
    setup_seconds: float = 30.0
    """Patience for connecting and for DESCRIBE, SETUP and PLAY (a stream started on demand takes a while)."""

    async def run(self) -> None:
        timeout = self.setup_seconds
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout)
        except (OSError, TimeoutError) as error:
            self.error, self.ended = type(error).__name__, True
            return
        try:
            session = await asyncio.wait_for(self._setup(reader, writer), timeout)
            keepalive = asyncio.create_task(self._keep_alive(writer, session))
            try:
                await self._read(reader)
            finally:
                keepalive.cancel()
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as error:
            self.error = self.error or type(error).__name__
        finally:
            self.ended = True
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lines: list[str], cseq: int
    ) -> tuple[int, dict[str, str], bytes]:
        writer.write(("\r\n".join([*lines, f"CSeq: {cseq}", "User-Agent: camfleet-bench", "", ""])).encode())
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode(errors="replace").split("\r\n")
        status = int(head[0].split()[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body

    async def _keep_alive(self, writer: asyncio.StreamWriter, session: str) -> None:
        """What players do: a request now and then, or the server ends the session (MediaMTX: `readTimeout`)."""
        cseq = 10
        while True:
            await asyncio.sleep(KEEPALIVE_SECONDS)
            cseq += 1
            lines = [f"GET_PARAMETER {self.url} RTSP/1.0", f"CSeq: {cseq}", f"Session: {session}", "", ""]
            writer.write("\r\n".join(lines).encode())
            await writer.drain()

    async def _setup(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        status, headers, sdp = await self._request(
            reader, writer, [f"DESCRIBE {self.url} RTSP/1.0", "Accept: application/sdp"], 1
        )
        if status != 200:
            raise ValueError(f"DESCRIBE {status}")
        base = headers.get("content-base", self.url)
        controls = re.findall(r"^a=control:(\S+)", sdp.decode(errors="replace"), re.MULTILINE)
        track = next((c for c in controls if c != "*"), "")
        control = track if track.startswith("rtsp://") else base.rstrip("/") + "/" + track
        status, headers, _ = await self._request(
            reader, writer, [f"SETUP {control} RTSP/1.0", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1"], 2
        )
        if status != 200:
            raise ValueError(f"SETUP {status}")
        session = headers.get("session", "").split(";")[0]
        status, _, _ = await self._request(reader, writer, [f"PLAY {base} RTSP/1.0", f"Session: {session}"], 3)
        if status != 200:
            raise ValueError(f"PLAY {status}")
        return session

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            first = await reader.readexactly(1)
            if first != b"$":  # an RTSP message from the server (none expected): skip its head and body
                rest = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"content-length:\s*(\d+)", first + rest, re.IGNORECASE)
                if length:
                    await reader.readexactly(int(length.group(1)))
                continue
            channel_and_length = await reader.readexactly(3)
            payload = await reader.readexactly(int.from_bytes(channel_and_length[1:], "big"))
            if channel_and_length[0] == 0 and len(payload) > 1 and payload[1] & 0x80:
                self.frames += 1
                self.last_frame_at = time.monotonic()
