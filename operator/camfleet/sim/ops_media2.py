"""Media2 service operations (tr2): profiles, stream URIs and privacy masks."""

from __future__ import annotations

from lxml import etree

from camfleet.sim.ops_device import Context, Handler
from camfleet.sim.ops_media import (
    PROFILES,
    VIDEO_SOURCE_CONFIGURATION_TOKEN,
    ptz_configuration_xml,
    stream_uri,
    video_source_xml,
)
from camfleet.sim.soap import NS, SoapFault, action_not_supported, attr, esc, required_text, text, xml_bool
from camfleet.sim.state import Camera, Encoder, Mask, Quirk

MAX_MASKS = 4
MAX_POINTS = 8


def _masks_supported(camera: Camera) -> bool:
    return not camera.has(Quirk.NO_MEDIA2_MASKS)


def get_service_capabilities(ctx: Context, body: etree._Element) -> str:
    return (
        "<tr2:GetServiceCapabilitiesResponse>"
        f'<tr2:Capabilities SnapshotUri="false" Rotation="false" OSD="false" '
        f'Mask="{xml_bool(_masks_supported(ctx.camera))}" SourceMask="false">'
        '<tr2:ProfileCapabilities MaximumNumberOfProfiles="2" ConfigurationsSupported="VideoSource VideoEncoder PTZ"/>'
        '<tr2:StreamingCapabilities RTSPStreaming="true" RTPMulticast="false"/>'
        "</tr2:Capabilities></tr2:GetServiceCapabilitiesResponse>"
    )


def _encoder2_xml(encoder: Encoder) -> str:
    return (
        f'<tr2:VideoEncoder token={attr(encoder.token)} GovLength="{encoder.gop}" Profile="Main">'
        f"<tt:Name>{esc(encoder.token)}</tt:Name><tt:UseCount>1</tt:UseCount>"
        f"<tt:Encoding>{esc(encoder.encoding)}</tt:Encoding>"
        f"<tt:Resolution><tt:Width>{encoder.width}</tt:Width><tt:Height>{encoder.height}</tt:Height></tt:Resolution>"
        f'<tt:RateControl ConstantBitRate="false"><tt:FrameRateLimit>{encoder.fps}</tt:FrameRateLimit>'
        f"<tt:BitrateLimit>{encoder.bitrate_kbps}</tt:BitrateLimit></tt:RateControl>"
        f"<tt:Quality>{encoder.quality:g}</tt:Quality></tr2:VideoEncoder>"
    )


def get_profiles(ctx: Context, body: etree._Element) -> str:
    camera = ctx.camera
    wanted = {element.text.strip() for element in body.findall("tr2:Type", NS) if element.text}
    include_all = "All" in wanted
    requested_token = text(body, "tr2:Token")
    profiles = []
    for token, name, encoder_index in PROFILES:
        if requested_token is not None and requested_token != token:
            continue
        parts = []
        if include_all or "VideoSource" in wanted:
            parts.append(video_source_xml("tr2:VideoSource"))
        if include_all or "VideoEncoder" in wanted:
            parts.append(_encoder2_xml(camera.encoders[encoder_index]))
        if (include_all or "PTZ" in wanted) and encoder_index == 0 and not camera.has(Quirk.NO_PTZ):
            parts.append(ptz_configuration_xml("tr2:PTZ"))
        configurations = f"<tr2:Configurations>{''.join(parts)}</tr2:Configurations>" if parts else ""
        profiles.append(
            f'<tr2:Profiles token="{token}" fixed="true"><tr2:Name>{name}</tr2:Name>{configurations}</tr2:Profiles>'
        )
    return f"<tr2:GetProfilesResponse>{''.join(profiles)}</tr2:GetProfilesResponse>"


def get_stream_uri(ctx: Context, body: etree._Element) -> str:
    uri = stream_uri(ctx, required_text(body, "tr2:ProfileToken"))
    return f"<tr2:GetStreamUriResponse><tr2:Uri>{esc(uri)}</tr2:Uri></tr2:GetStreamUriResponse>"


def _require_masks(ctx: Context, operation: str) -> Camera:
    if not _masks_supported(ctx.camera):
        raise action_not_supported(operation)
    return ctx.camera


def _mask_xml(mask: Mask) -> str:
    points = "".join(f'<tt:Point x="{x:g}" y="{y:g}"/>' for x, y in mask.points)
    return (
        f"<tr2:Masks token={attr(mask.token)}><tr2:ConfigurationToken>{VIDEO_SOURCE_CONFIGURATION_TOKEN}"
        f"</tr2:ConfigurationToken><tr2:Polygon>{points}</tr2:Polygon><tr2:Type>{esc(mask.kind)}</tr2:Type>"
        f"<tr2:Enabled>{xml_bool(mask.enabled)}</tr2:Enabled></tr2:Masks>"
    )


def get_masks(ctx: Context, body: etree._Element) -> str:
    camera = _require_masks(ctx, "GetMasks")
    token = text(body, "tr2:Token")
    masks = "".join(_mask_xml(m) for m in camera.masks if token is None or m.token == token)
    return f"<tr2:GetMasksResponse>{masks}</tr2:GetMasksResponse>"


def get_mask_options(ctx: Context, body: etree._Element) -> str:
    _require_masks(ctx, "GetMaskOptions")
    return (
        '<tr2:GetMaskOptionsResponse><tr2:Options RectangleOnly="false" SingleColorOnly="true">'
        f"<tr2:MaxMasks>{MAX_MASKS}</tr2:MaxMasks><tr2:MaxPoints>{MAX_POINTS}</tr2:MaxPoints>"
        '<tr2:Types>Color</tr2:Types><tr2:Color><tt:ColorList X="16" Y="128" Z="128"/></tr2:Color>'
        "</tr2:Options></tr2:GetMaskOptionsResponse>"
    )


def _parse_mask(element: etree._Element) -> tuple[tuple[tuple[float, float], ...], str, bool]:
    points = []
    for point in element.findall("tr2:Polygon/tt:Point", NS):
        try:
            points.append((float(point.get("x", "")), float(point.get("y", ""))))
        except ValueError:
            raise SoapFault("Sender", ("ter:InvalidArgVal",), "mask point is not a number") from None
    if not 3 <= len(points) <= MAX_POINTS or any(not -1 <= v <= 1 for p in points for v in p):
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:InvalidPolygon"), "polygon needs 3..8 points in [-1, 1]")
    return tuple(points), text(element, "tr2:Type") or "Color", text(element, "tr2:Enabled") != "false"


def create_mask(ctx: Context, body: etree._Element) -> str:
    camera = _require_masks(ctx, "CreateMask")
    element = body.find("tr2:Mask", NS)
    if element is None:
        raise SoapFault("Sender", ("ter:InvalidArgVal",), "missing Mask")
    points, kind, enabled = _parse_mask(element)
    if len(camera.masks) >= MAX_MASKS:
        raise SoapFault("Receiver", ("ter:Action", "ter:MaxMasks"), "maximum number of masks reached")
    token = camera.new_token("mask")
    applied = camera.accepts_changes()
    if applied:
        camera.masks.append(Mask(token, points, kind, enabled))
    camera.record_set("CreateMask", applied, token=token, points=[list(p) for p in points])
    return f"<tr2:CreateMaskResponse><tr2:Token>{token}</tr2:Token></tr2:CreateMaskResponse>"


def delete_mask(ctx: Context, body: etree._Element) -> str:
    camera = _require_masks(ctx, "DeleteMask")
    token = required_text(body, "tr2:Token")
    if not any(m.token == token for m in camera.masks):
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:NoConfig"), "no such mask")
    applied = camera.accepts_changes()
    if applied:
        camera.masks = [m for m in camera.masks if m.token != token]
    camera.record_set("DeleteMask", applied, token=token)
    return "<tr2:DeleteMaskResponse/>"


def set_mask(ctx: Context, body: etree._Element) -> str:
    camera = _require_masks(ctx, "SetMask")
    element = body.find("tr2:Mask", NS)
    if element is None:
        raise SoapFault("Sender", ("ter:InvalidArgVal",), "missing Mask")
    token = element.get("token", "")
    mask = next((m for m in camera.masks if m.token == token), None)
    if mask is None:
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:NoConfig"), "no such mask")
    points, kind, enabled = _parse_mask(element)
    applied = camera.accepts_changes()
    if applied:
        mask.points, mask.kind, mask.enabled = points, kind, enabled
    camera.record_set("SetMask", applied, token=token)
    return "<tr2:SetMaskResponse/>"


OPERATIONS: dict[str, Handler] = {
    "GetServiceCapabilities": get_service_capabilities,
    "GetProfiles": get_profiles,
    "GetStreamUri": get_stream_uri,
    "GetMasks": get_masks,
    "GetMaskOptions": get_mask_options,
    "CreateMask": create_mask,
    "DeleteMask": delete_mask,
    "SetMask": set_mask,
}
