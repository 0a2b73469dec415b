"""ONVIF device client: the only part of camfleet that speaks SOAP.

Pure parts: `models` (values), `diff` (desired vs observed), `clock` (offset math).
I/O parts: `transport` (bounded, DTD-free HTTP), `session` (auth modes, timeouts, typed errors),
`client` (typed operations), `apply` (read, set, read back).
"""

from camfleet.onvif import _library  # noqa: F401 - first, before anything imports onvif
from camfleet.onvif.apply import apply_settings, read_settings
from camfleet.onvif.client import HOME_PRESET_NAME, OnvifClient
from camfleet.onvif.errors import (
    AuthFailed,
    CallTimeout,
    DeviceError,
    NotSupported,
    ProtocolError,
    Unreachable,
    UntrustedAddress,
)
from camfleet.onvif.models import (
    ApplyReport,
    AuthMode,
    Capabilities,
    CapabilityGap,
    ClockReading,
    DesiredDeviceSettings,
    DeviceInfo,
    Difference,
    EncoderOptions,
    EncoderSettings,
    Feature,
    ObservedDeviceSettings,
    PrivacyMask,
    PtzPosition,
    StreamUri,
    StreamUris,
    TimeSettings,
)
from camfleet.onvif.session import load_document
from camfleet.onvif.trust import AddressPolicy

__all__ = [
    "HOME_PRESET_NAME",
    "AddressPolicy",
    "ApplyReport",
    "AuthFailed",
    "AuthMode",
    "CallTimeout",
    "Capabilities",
    "CapabilityGap",
    "ClockReading",
    "DesiredDeviceSettings",
    "DeviceError",
    "DeviceInfo",
    "Difference",
    "EncoderOptions",
    "EncoderSettings",
    "Feature",
    "NotSupported",
    "ObservedDeviceSettings",
    "OnvifClient",
    "PrivacyMask",
    "ProtocolError",
    "PtzPosition",
    "StreamUri",
    "StreamUris",
    "TimeSettings",
    "Unreachable",
    "UntrustedAddress",
    "apply_settings",
    "load_document",
    "read_settings",
]
