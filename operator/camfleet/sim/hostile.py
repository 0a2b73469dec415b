"""Replies of a broken or malicious device, for fault-injection and security tests.

Each is shaped like a GetDeviceInformation reply so that a client which *did* process it would show
the payload (file contents, expanded entities) in the device information it returns.
"""

from __future__ import annotations

from aiohttp import web

from camfleet.sim.soap import ENVELOPE_TAIL, NS

OVERSIZED_BYTES = 4 << 20
# Marker a test can look for: it only appears if an external entity was resolved.
XXE_TARGET = "file:///etc/hostname"

_DECLARATIONS = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items())
_INFO_HEAD = f"<env:Envelope {_DECLARATIONS}><env:Body><tds:GetDeviceInformationResponse><tds:Manufacturer>"
_INFO_TAIL = (
    "</tds:Manufacturer><tds:Model>m</tds:Model><tds:FirmwareVersion>f</tds:FirmwareVersion>"
    "<tds:SerialNumber>s</tds:SerialNumber><tds:HardwareId>h</tds:HardwareId>"
    "</tds:GetDeviceInformationResponse>" + ENVELOPE_TAIL
)


def xxe_reply() -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<!DOCTYPE env:Envelope [<!ENTITY xxe SYSTEM "{XXE_TARGET}">]>\n'
        f"{_INFO_HEAD}&xxe;{_INFO_TAIL}"
    )


def entity_bomb_reply() -> str:
    """The classic "billion laughs": 10 levels of 10x expansion, 3 GB if expanded."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<!DOCTYPE env:Envelope [{''.join(entities)}]>\n"
        f"{_INFO_HEAD}&lol9;{_INFO_TAIL}"
    )


def malformed_reply() -> str:
    """A well-begun reply cut off mid-element, as a crashing web server sends it."""
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{_INFO_HEAD}camfleet</tds:Manufacturer><tds:Mod'


def oversized_chunks(chunk_size: int = 64 * 1024) -> list[bytes]:
    """A syntactically valid reply of OVERSIZED_BYTES, split for a chunked (length-less) response."""
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n' + _INFO_HEAD).encode()
    filler = b"x" * chunk_size
    chunks = [head] + [filler] * (OVERSIZED_BYTES // chunk_size)
    chunks.append(_INFO_TAIL.encode())
    return chunks


HTTP_500_PAGE = "<html><body><h1>500 Internal Server Error</h1></body></html>"


def redirect(foreign_url: str, path: str) -> web.Response:
    """307 keeps the method and body: a client that followed it would re-post its signed envelope elsewhere."""
    return web.Response(status=307, headers={"Location": f"{foreign_url.rstrip('/')}{path}"}, text="moved")
