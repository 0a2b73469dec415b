"""Keep stream credentials out of everything the recorder prints.

ffmpeg echoes its input URL (userinfo included) in its banner and in error messages, so every ffmpeg line passes
through `redact` before it is logged. Userinfo is removed from any URL, and the password is replaced wherever it
appears, raw or percent-encoded, in case a message quotes it outside a URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"
# scheme://userinfo@ ; userinfo stops at the first character that cannot be part of it unencoded.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#@'\"]*@")


def redact(line: str, secrets: Iterable[str] = ()) -> str:
    line = _URL_USERINFO.sub(rf"\1{MASK}@", line)
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            line = line.replace(form, MASK)
    return line
