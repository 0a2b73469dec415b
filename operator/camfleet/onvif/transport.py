"""HTTP transport for zeep: bounded replies, no DTDs, no entity expansion, no envelope logging.

onvif-zeep-async's transport reads whole replies into memory, logs every envelope at DEBUG and parses
with `xml_huge_tree=True`. A camera is untrusted input, so this subclass:

- refuses replies larger than a limit (checked on Content-Length and while streaming);
- refuses any document with a DOCTYPE before zeep sees it (SOAP forbids DTDs, and a DTD is how XXE
  and entity-expansion bombs arrive), then parses strictly so truncated XML is an error, not a
  silently "recovered" half-document;
- turns HTTP 401 into a typed signal so the session can fall back to another auth mode;
- never follows an HTTP redirect: a 3xx is a typed error (`HttpRedirect`), because following it would resend
  the signed envelope (WS-UsernameToken) or a digest answer to whatever host the device named;
- logs only addresses and status codes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
from lxml import etree
from onvif.zeep_aiohttp import AIOHTTPTransport
from zeep.settings import Settings
from zeep.wsdl.utils import etree_to_string

DEFAULT_MAX_REPLY_BYTES = 1 << 20
# Set when zeep hands an envelope to the transport: an exception before that was raised while building
# the request (our side); after it, the device was involved. Task-local, so concurrent cameras do not mix.
REQUEST_SENT: ContextVar[bool] = ContextVar("camfleet_onvif_request_sent", default=False)


def hardened_settings(strict_schema: bool = False) -> Settings:
    """zeep settings for parsing replies that already passed `check_reply_document` (belt and braces).

    `strict_schema=False` is for real cameras, which add vendor elements and reorder things; the
    simulator's own tests use True so every reply must match the ONVIF schema exactly.
    """
    return Settings(
        strict=strict_schema,
        xml_huge_tree=False,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )


class _ReplyHeaders(dict[str, str]):
    """Case-insensitive lookups on lower-cased header names (zeep asks for "Content-Type")."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass(frozen=True, slots=True)
class SoapReply:
    """The subset of a requests-style response that zeep's SOAP binding reads."""

    status_code: int
    content: bytes
    headers: _ReplyHeaders
    encoding: str | None


class ReplyRejected(Exception):
    """A reply this transport refuses to hand to zeep. Messages name no secrets."""


class HttpUnauthorized(Exception):
    """HTTP 401: the device wants (different) HTTP authentication."""

    def __init__(self, offers_digest: bool) -> None:
        super().__init__("HTTP 401" + (" with a digest challenge" if offers_digest else ""))
        self.offers_digest = offers_digest


class HttpRedirect(Exception):
    """HTTP 3xx: the device tried to send the request elsewhere. Never followed."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(f"HTTP {status} redirect to {location!r} refused (redirects are never followed)")
        self.status = status
        self.location = location


class HttpStatusError(Exception):
    """A non-200 reply without an XML body (an HTTP 500 error page, a 404, ...)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status} without a SOAP body")
        self.status = status


def check_reply_document(content: bytes) -> None:
    """Raise ReplyRejected unless `content` is one well-formed XML document without a DTD."""
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise ReplyRejected("reply contains a document type declaration (refused: SOAP forbids DTDs)")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False)
    try:
        root = etree.fromstring(content, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ReplyRejected(f"reply is not well-formed XML (line {exc.lineno})") from None
    if root.getroottree().docinfo.doctype:
        raise ReplyRejected("reply contains a document type declaration (refused: SOAP forbids DTDs)")


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Read the body, refusing more than `limit` bytes without buffering the excess."""
    if response.content_length is not None and response.content_length > limit:
        raise ReplyRejected(f"reply of {response.content_length} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ReplyRejected(f"reply exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


class BoundedTransport(AIOHTTPTransport):  # type: ignore[misc]  # onvif is untyped
    """zeep transport on a shared aiohttp session, optionally with HTTP digest middleware."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        middlewares: Sequence[aiohttp.ClientMiddlewareType] = (),
    ) -> None:
        super().__init__(session=session)
        self._max_reply_bytes = max_reply_bytes
        self._middlewares = tuple(middlewares)

    async def post_xml(self, address: str, envelope: Any, headers: Mapping[str, str]) -> SoapReply:
        body = etree_to_string(envelope)  # type: ignore[no-untyped-call]
        REQUEST_SENT.set(True)
        async with self.session.post(
            address, data=body, headers=dict(headers), middlewares=self._middlewares, allow_redirects=False
        ) as response:
            if 300 <= response.status < 400:
                raise HttpRedirect(response.status, response.headers.get("Location", "")[:200])
            if response.status == 401:
                challenge = response.headers.get("WWW-Authenticate", "")
                raise HttpUnauthorized(offers_digest=challenge.lower().startswith("digest"))
            content = await read_bounded(response, self._max_reply_bytes)
            is_xml = "xml" in response.headers.get("Content-Type", "")
            if response.status != 200 and not is_xml:
                raise HttpStatusError(response.status)
            check_reply_document(content)
            return SoapReply(
                status_code=response.status,
                content=content,
                headers=_ReplyHeaders({k.lower(): v for k, v in response.headers.items()}),
                encoding=response.charset,
            )

    async def post(self, address: str, message: str, headers: Mapping[str, str]) -> Any:
        raise NotImplementedError("camfleet only posts SOAP envelopes (post_xml)")

    async def get(self, address: str, params: Any = None, headers: Any = None) -> Any:
        raise NotImplementedError("camfleet never fetches documents from a device")
