"""A tiny asyncio RTSP responder with the two behaviours that make ffmpeg talk about its input URL.

- `refuse`: accepts the TCP connection and closes it at once, before any reply (a camera refusing the session);
- `basic`: answers every request `401 Unauthorized` with a `Basic` challenge, so ffmpeg answers with the
  credentials of its URL, base64-encoded in clear; each request's headers are kept in `requests`.

It runs on a thread of its own so synchronous tests (which start real processes) can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

MODES = ("refuse", "basic")


@dataclass
class RtspResponder:
    mode: str
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)
    connections: int = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self.mode == "refuse":
                return
            while request := await self._read_request(reader):
                self.requests.append(request)
                reply = (
                    f"RTSP/1.0 401 Unauthorized\r\nCSeq: {request.get('cseq', '0')}\r\n"
                    'WWW-Authenticate: Basic realm="camera"\r\nContent-Length: 0\r\n\r\n'
                )
                writer.write(reply.encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> dict[str, str] | None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        request = {"request-line": lines[0]}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                request[name.strip().lower()] = value.strip()
        return request

    @contextlib.contextmanager
    def running(self) -> Iterator[RtspResponder]:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        server: list[asyncio.Server] = []

        async def start() -> None:
            server.append(await asyncio.start_server(self._serve, self.host, self.port))
            self.port = server[0].sockets[0].getsockname()[1]
            started.set()

        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
        started.wait(10)
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(server[0].close)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)

    def authorizations(self) -> list[str]:
        return [request["authorization"] for request in self.requests if "authorization" in request]
