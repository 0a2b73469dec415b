"""A loopback relay that lets ffmpeg publish to the media gateway with a password ffmpeg never sees.

ffmpeg's RTSP muxer takes credentials only in the output URL, and an output URL is on ffmpeg's command line,
readable in `/proc/<pid>/cmdline`. So the transcoder points ffmpeg at this relay (`rtsp://127.0.0.1:<port>/...`,
no userinfo) and the relay forwards the connection to the gateway, adding `Authorization: Basic` to every RTSP
request (MediaMTX's `rtspAuthMethods: [basic]`) and naming the gateway's address in each request line. Media
(RTSP interleaved `$` frames) and the gateway's answers pass through unchanged. The password lives only in
this process's memory.

One relay serves one output; it accepts connections from loopback only (it listens on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger("camfleet.transcoder.relay")

LOOPBACK = "127.0.0.1"
MAX_HEADER_BYTES = 64 * 1024
_INTERLEAVED = b"$"


def basic_authorization(user: str, password: str) -> bytes:
    return b"Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode())


def rewrite_request_head(head: bytes, local_base: bytes, upstream_base: bytes, authorization: bytes) -> bytes:
    """One RTSP request's head (request line and headers, ending with a blank line): the gateway's address in
    place of the relay's, any Authorization the client sent replaced by ours."""
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    request_line = lines[0].replace(local_base, upstream_base, 1)
    headers = [line for line in lines[1:] if not line.lower().startswith(b"authorization:")]
    return b"\r\n".join([request_line, authorization, *headers]) + b"\r\n\r\n"


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


class PublishRelay:
    """Listens on loopback; `local_url` is what ffmpeg publishes to."""

    def __init__(self, upstream_url: str, user: str, password: str) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme != "rtsp" or parts.hostname is None or parts.username or parts.password:
            raise ValueError("the gateway URL must be rtsp://host[:port]/path without credentials")
        self._upstream = (parts.hostname, parts.port or 554)
        self._upstream_url = upstream_url
        self._authorization = basic_authorization(user, password)
        self._server: asyncio.Server | None = None
        self.local_url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, 0)
        port = self._server.sockets[0].getsockname()[1]
        parts = urlsplit(self._upstream_url)
        self.local_url = urlunsplit(("rtsp", f"{LOOPBACK}:{port}", parts.path, parts.query, ""))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def _bases(self) -> tuple[bytes, bytes]:
        local, upstream = urlsplit(self.local_url), urlsplit(self._upstream_url)
        return f"rtsp://{local.netloc}".encode(), f"rtsp://{upstream.netloc}".encode()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            gateway_reader, gateway_writer = await asyncio.open_connection(*self._upstream)
        except OSError as error:
            log.warning("cannot reach the gateway at %s:%d: %s", *self._upstream, error.strerror)
            client_writer.close()
            return
        tasks = [
            asyncio.create_task(self._requests(client_reader, gateway_writer)),
            asyncio.create_task(_copy(gateway_reader, client_writer)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for writer in (client_writer, gateway_writer):
            writer.close()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        local_base, upstream_base = self._bases()
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            while True:
                first = await reader.readexactly(1)
                if first == _INTERLEAVED:
                    header = await reader.readexactly(3)
                    writer.write(first + header + await reader.readexactly(int.from_bytes(header[1:3], "big")))
                else:
                    head = first + await reader.readuntil(b"\r\n\r\n")
                    if len(head) > MAX_HEADER_BYTES:
                        return
                    body = await reader.readexactly(content_length(head))
                    writer.write(rewrite_request_head(head, local_base, upstream_base, self._authorization) + body)
                await writer.drain()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
