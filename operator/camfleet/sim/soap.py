"""SOAP 1.2 plumbing for the simulator: parse a request, wrap a reply, build faults.

Replies are assembled from string templates (no XML trees) so one process can answer for thousands of
cameras; `esc` escapes every value that comes from state or from a request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from camfleet.sim.auth import UsernameToken

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "tt": "http://www.onvif.org/ver10/schema",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tr2": "http://www.onvif.org/ver20/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "timg": "http://www.onvif.org/ver20/imaging/wsdl",
    "ter": "http://www.onvif.org/ver10/error",
}

_NAMESPACE_DECLARATIONS = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items())
ENVELOPE_HEAD = f'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope {_NAMESPACE_DECLARATIONS}><env:Body>'
ENVELOPE_TAIL = "</env:Body></env:Envelope>"
CONTENT_TYPE = "application/soap+xml; charset=utf-8"


def esc(value: object) -> str:
    return escape(str(value))


def attr(value: object) -> str:
    """A quoted, escaped attribute value."""
    return quoteattr(str(value))


def xml_bool(value: bool) -> str:
    return "true" if value else "false"


def envelope(body: str) -> str:
    return ENVELOPE_HEAD + body + ENVELOPE_TAIL


class SoapFault(Exception):
    """Raised by an operation handler; becomes a SOAP 1.2 fault reply.

    HTTP status follows the SOAP 1.2 HTTP binding: 400 for env:Sender, 500 for env:Receiver.
    """

    def __init__(self, code: str, subcodes: tuple[str, ...], reason: str, *, unsupported: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.subcodes = subcodes
        self.reason = reason
        # The operation this fault says is not supported: quirky cameras say it differently (see server).
        self.unsupported = unsupported

    @property
    def http_status(self) -> int:
        return 400 if self.code == "Sender" else 500

    def to_xml(self) -> str:
        subcode = ""
        for value in reversed(self.subcodes):
            subcode = f"<env:Subcode><env:Value>{esc(value)}</env:Value>{subcode}</env:Subcode>"
        return envelope(
            f"<env:Fault><env:Code><env:Value>env:{self.code}</env:Value>{subcode}</env:Code>"
            f'<env:Reason><env:Text xml:lang="en">{esc(self.reason)}</env:Text></env:Reason></env:Fault>'
        )


def not_authorized() -> SoapFault:
    return SoapFault("Sender", ("ter:NotAuthorized",), "Sender not Authorized")


def action_not_supported(operation: str) -> SoapFault:
    return SoapFault(
        "Receiver", ("ter:ActionNotSupported",), f"{operation} is not supported by this device", unsupported=operation
    )


def invalid_arg(subcode: str, reason: str) -> SoapFault:
    return SoapFault("Sender", ("ter:InvalidArgVal", f"ter:{subcode}"), reason)


@dataclass(frozen=True, slots=True)
class SoapRequest:
    namespace: str
    operation: str
    body: etree._Element
    token: UsernameToken | None


def _parser() -> etree.XMLParser:
    # Requests are untrusted too: no DTDs, no entities, no network, no huge trees.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_request(data: bytes) -> SoapRequest:
    if b"<!DOCTYPE" in data:
        raise SoapFault("Sender", ("ter:WellFormed",), "document type declarations are not accepted")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError:
        raise SoapFault("Sender", ("ter:WellFormed",), "request is not well-formed XML") from None
    body = root.find("env:Body", NS)
    if root.tag != f"{{{NS['env']}}}Envelope" or body is None or len(body) == 0:
        raise SoapFault("Sender", ("ter:WellFormed",), "not a SOAP 1.2 envelope with a body")
    operation = body[0]
    qname = etree.QName(operation)
    return SoapRequest(qname.namespace or "", qname.localname, operation, _username_token(root))


def _username_token(root: etree._Element) -> UsernameToken | None:
    token = root.find("env:Header/wsse:Security/wsse:UsernameToken", NS)
    if token is None:
        return None
    password = token.find("wsse:Password", NS)
    return UsernameToken(
        username=token.findtext("wsse:Username", "", NS),
        password=(password.text or "") if password is not None else "",
        password_type=password.get("Type", "") if password is not None else "",
        nonce_b64=token.findtext("wsse:Nonce", None, NS),
        created=token.findtext("wsu:Created", None, NS),
    )


def text(element: etree._Element, path: str, default: str | None = None) -> str | None:
    """Text of the first match of `path` (with `NS` prefixes), stripped."""
    found = element.findtext(path, None, NS)
    return found.strip() if found is not None else default


def required_text(element: etree._Element, path: str) -> str:
    value = text(element, path)
    if value is None:
        raise SoapFault("Sender", ("ter:InvalidArgVal",), f"missing {path}")
    return value


def number(element: etree._Element, path: str, parse: Callable[[str], float] = float) -> float | None:
    value = text(element, path)
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError:
        raise SoapFault("Sender", ("ter:InvalidArgVal",), f"{path} is not a number") from None


def boolean(element: etree._Element, path: str) -> bool | None:
    value = text(element, path)
    return None if value is None else value in ("true", "1")
