"""Translate a Camera spec into the device settings the ONVIF client applies."""

from __future__ import annotations

from camfleet.api.camera import CameraSpec, Point
from camfleet.onvif import DesiredDeviceSettings, EncoderSettings, PrivacyMask, PtzPosition


def onvif_point(point: Point) -> tuple[float, float]:
    """The spec counts from the top-left corner in [0, 1]; ONVIF uses [-1, 1] with y pointing up."""
    return (round(point.left * 2 - 1, 6), round(1 - point.top * 2, 6))


def desired_device_settings(spec: CameraSpec) -> DesiredDeviceSettings:
    device = spec.device
    encoder = device.video_encoder
    # An empty mask list leaves the device's masks alone: removing masks by omission could
    # unmask private windows, so an unmasking must be an explicit spec with other masks.
    masks = tuple(PrivacyMask(tuple(onvif_point(p) for p in mask.polygon)) for mask in device.privacy_masks)
    home = device.ptz_home
    return DesiredDeviceSettings(
        ntp_servers=tuple(device.time.ntp_servers),
        timezone=device.time.timezone,
        encoder=EncoderSettings(
            encoding=encoder.encoding.value,
            width=encoder.resolution.width,
            height=encoder.resolution.height,
            fps=encoder.fps,
            bitrate_kbps=encoder.bitrate_kbps,
            gop=encoder.gop,
        ),
        privacy_masks=masks or None,
        ptz_home=PtzPosition(pan=home.pan, tilt=home.tilt, zoom=home.zoom) if home else None,
    )
