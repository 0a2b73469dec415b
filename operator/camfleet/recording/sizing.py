"""Retention volume size: bitrate x retention x headroom, rounded up to whole GiB, never shrunk."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

GIB = 1024**3
SECONDS_PER_DAY = 86_400
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGTPE]i?|[kmun])?$")
_FACTORS = {
    None: 1,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5, "Ei": 1024**6,
    "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}  # fmt: skip


def required_bytes(bitrate_kbps: int, retention_days: int, headroom_percent: int) -> int:
    """Bytes a camera writes over its retention, plus headroom (bitrate is in kilobits per second)."""
    bytes_per_second = bitrate_kbps * 1000 / 8
    return math.ceil(bytes_per_second * retention_days * SECONDS_PER_DAY * (1 + headroom_percent / 100))


def as_gib_quantity(size_bytes: int) -> str:
    return f"{max(1, math.ceil(size_bytes / GIB))}Gi"


def parse_quantity(quantity: str) -> int:
    """Bytes in a Kubernetes storage quantity such as `1500Gi`, `2T` or `1073741824`."""
    match = _QUANTITY.match(quantity.strip())
    if not match or match.group(2) in ("m", "u", "n"):
        raise ValueError(f"not a storage quantity: {quantity!r}")
    return math.ceil(float(match.group(1)) * _FACTORS[match.group(2)])


class VolumeAction(StrEnum):
    CREATE = "Create"
    KEEP = "Keep"
    GROW = "Grow"
    AWAIT_BINDING = "AwaitBinding"
    TOO_SMALL = "TooSmall"


@dataclass(frozen=True)
class VolumeDecision:
    action: VolumeAction
    request: str  # the storage request to apply (the current one when keeping or too small)
    required: str


def decide_volume(
    required: int, current_request: str | None, expansion_allowed: bool, bound: bool = True
) -> VolumeDecision:
    """Create at the required size; grow when allowed; never shrink (recordings inside retention live there).

    Kubernetes lets only a bound claim grow, so an unbound one keeps its request until it binds.
    """
    wanted = as_gib_quantity(required)
    if current_request is None:
        return VolumeDecision(VolumeAction.CREATE, wanted, wanted)
    if parse_quantity(current_request) >= parse_quantity(wanted):
        return VolumeDecision(VolumeAction.KEEP, current_request, wanted)
    if not bound:
        return VolumeDecision(VolumeAction.AWAIT_BINDING, current_request, wanted)
    if expansion_allowed:
        return VolumeDecision(VolumeAction.GROW, wanted, wanted)
    return VolumeDecision(VolumeAction.TOO_SMALL, current_request, wanted)
