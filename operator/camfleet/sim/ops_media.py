"""Media service operations (trt, ONVIF Profile S) and the XML fragments Media2 shares."""

from __future__ import annotations

from lxml import etree

from camfleet.sim.ops_device import Context, Handler
from camfleet.sim.soap import NS, SoapFault, attr, esc, number, required_text, text
from camfleet.sim.state import Camera, Encoder, Quirk

RESOLUTIONS = ((2560, 1440), (1920, 1080), (1280, 720), (640, 360))
ENCODINGS = ("JPEG", "H264")
FPS_RANGE = (1, 30)
GOP_RANGE = (1, 300)
BITRATE_RANGE = (64, 16384)
QUALITY_RANGE = (0, 10)
VIDEO_SOURCE_TOKEN = "vs-0"
VIDEO_SOURCE_CONFIGURATION_TOKEN = "vsc-0"
PTZ_CONFIGURATION_TOKEN = "ptz-0"
PTZ_NODE_TOKEN = "ptz-node-0"
PROFILES = (("prof-main", "main", 0), ("prof-sub", "sub", 1))  # token, name, encoder index


def video_source_xml(tag: str) -> str:
    return (
        f'<{tag} token="{VIDEO_SOURCE_CONFIGURATION_TOKEN}"><tt:Name>video source</tt:Name><tt:UseCount>2</tt:UseCount>'
        f'<tt:SourceToken>{VIDEO_SOURCE_TOKEN}</tt:SourceToken><tt:Bounds x="0" y="0" width="1920" height="1080"/>'
        f"</{tag}>"
    )


def ptz_configuration_xml(tag: str) -> str:
    return (
        f'<{tag} token="{PTZ_CONFIGURATION_TOKEN}"><tt:Name>ptz</tt:Name><tt:UseCount>1</tt:UseCount>'
        f"<tt:NodeToken>{PTZ_NODE_TOKEN}</tt:NodeToken></{tag}>"
    )


def encoder_xml(tag: str, encoder: Encoder) -> str:
    h264 = (
        f"<tt:H264><tt:GovLength>{encoder.gop}</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264>"
        if encoder.encoding == "H264"
        else ""
    )
    return (
        f"<{tag} token={attr(encoder.token)}><tt:Name>{esc(encoder.token)}</tt:Name><tt:UseCount>1</tt:UseCount>"
        f"<tt:Encoding>{esc(encoder.encoding)}</tt:Encoding>"
        f"<tt:Resolution><tt:Width>{encoder.width}</tt:Width><tt:Height>{encoder.height}</tt:Height></tt:Resolution>"
        f"<tt:Quality>{encoder.quality:g}</tt:Quality>"
        f"<tt:RateControl><tt:FrameRateLimit>{encoder.fps}</tt:FrameRateLimit>"
        f"<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>{encoder.bitrate_kbps}</tt:BitrateLimit>"
        f"</tt:RateControl>{h264}"
        "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address>"
        "<tt:Port>0</tt:Port><tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
        f"<tt:SessionTimeout>PT60S</tt:SessionTimeout></{tag}>"
    )


def stream_uri(ctx: Context, profile_token: str) -> str:
    for token, name, _ in PROFILES:
        if token == profile_token:
            return f"{ctx.rtsp_base}/{name}"
    raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:NoProfile"), "no such profile")


def _profile_xml(camera: Camera, token: str, name: str, encoder_index: int) -> str:
    ptz = ptz_configuration_xml("tt:PTZConfiguration") if not camera.has(Quirk.NO_PTZ) and encoder_index == 0 else ""
    return (
        f'<trt:Profiles token="{token}" fixed="true"><tt:Name>{name}</tt:Name>'
        f"{video_source_xml('tt:VideoSourceConfiguration')}"
        f"{encoder_xml('tt:VideoEncoderConfiguration', camera.encoders[encoder_index])}{ptz}</trt:Profiles>"
    )


def get_profiles(ctx: Context, body: etree._Element) -> str:
    profiles = "".join(_profile_xml(ctx.camera, *profile) for profile in PROFILES)
    return f"<trt:GetProfilesResponse>{profiles}</trt:GetProfilesResponse>"


def get_stream_uri(ctx: Context, body: etree._Element) -> str:
    uri = stream_uri(ctx, required_text(body, "trt:ProfileToken"))
    return (
        f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{esc(uri)}</tt:Uri>"
        "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
        "<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>"
    )


def _encoder_or_fault(camera: Camera, token: str) -> Encoder:
    encoder = camera.encoder(token)
    if encoder is None:
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:NoConfig"), "no such video encoder configuration")
    return encoder


def get_video_encoder_configuration(ctx: Context, body: etree._Element) -> str:
    encoder = _encoder_or_fault(ctx.camera, required_text(body, "trt:ConfigurationToken"))
    # Some firmware names the wrapper after the type instead of the schema's trt:Configuration.
    tag = "trt:VideoEncoderConfiguration" if ctx.camera.has(Quirk.ENCODER_WRAPPER) else "trt:Configuration"
    reply = encoder_xml(tag, encoder)
    if ctx.camera.has(Quirk.ENCODER_NO_RATE_CONTROL):
        start, end = reply.index("<tt:RateControl>"), reply.index("</tt:RateControl>") + len("</tt:RateControl>")
        reply = reply[:start] + reply[end:]
    if ctx.camera.has(Quirk.ENCODER_GARBLED):
        reply = reply.replace(f"<tt:Width>{encoder.width}</tt:Width>", f"<tt:Width>{encoder.width}px</tt:Width>")
    return f"<trt:GetVideoEncoderConfigurationResponse>{reply}</trt:GetVideoEncoderConfigurationResponse>"


def get_video_encoder_configurations(ctx: Context, body: etree._Element) -> str:
    configurations = "".join(encoder_xml("trt:Configurations", e) for e in ctx.camera.encoders)
    return f"<trt:GetVideoEncoderConfigurationsResponse>{configurations}</trt:GetVideoEncoderConfigurationsResponse>"


def _range(low: int, high: int) -> str:
    return f"<tt:Min>{low}</tt:Min><tt:Max>{high}</tt:Max>"


def _resolutions() -> str:
    return "".join(
        f"<tt:ResolutionsAvailable><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:ResolutionsAvailable>"
        for w, h in RESOLUTIONS
    )


def get_video_encoder_configuration_options(ctx: Context, body: etree._Element) -> str:
    fps, gop, interval = _range(*FPS_RANGE), _range(*GOP_RANGE), _range(1, 1)
    h264 = (
        f"{_resolutions()}<tt:GovLengthRange>{gop}</tt:GovLengthRange><tt:FrameRateRange>{fps}</tt:FrameRateRange>"
        f"<tt:EncodingIntervalRange>{interval}</tt:EncodingIntervalRange>"
        "<tt:H264ProfilesSupported>Baseline</tt:H264ProfilesSupported>"
        "<tt:H264ProfilesSupported>Main</tt:H264ProfilesSupported>"
    )
    jpeg = (
        f"{_resolutions()}<tt:FrameRateRange>{fps}</tt:FrameRateRange>"
        f"<tt:EncodingIntervalRange>{interval}</tt:EncodingIntervalRange>"
    )
    bitrate = f"<tt:BitrateRange>{_range(*BITRATE_RANGE)}</tt:BitrateRange>"
    return (
        "<trt:GetVideoEncoderConfigurationOptionsResponse><trt:Options>"
        f"<tt:QualityRange>{_range(*QUALITY_RANGE)}</tt:QualityRange>"
        f"<tt:JPEG>{jpeg}</tt:JPEG><tt:H264>{h264}</tt:H264>"
        f"<tt:Extension><tt:JPEG>{jpeg}{bitrate}</tt:JPEG><tt:H264>{h264}{bitrate}</tt:H264></tt:Extension>"
        "</trt:Options></trt:GetVideoEncoderConfigurationOptionsResponse>"
    )


def validate_encoder(encoding: str, width: int, height: int, fps: int, bitrate: int, gop: int) -> None:
    """Refuse what the options do not offer, as a real device does (ter:ConfigModify)."""
    problems = []
    if encoding not in ENCODINGS:
        problems.append(f"encoding {encoding}")
    if (width, height) not in RESOLUTIONS:
        problems.append(f"resolution {width}x{height}")
    for name, value, (low, high) in (
        ("fps", fps, FPS_RANGE),
        ("bitrate", bitrate, BITRATE_RANGE),
        ("gop", gop, GOP_RANGE),
    ):
        if not low <= value <= high:
            problems.append(f"{name} {value}")
    if problems:
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:ConfigModify"), "unsupported " + ", ".join(problems))


def set_video_encoder_configuration(ctx: Context, body: etree._Element) -> str:
    camera = ctx.camera
    configuration = body.find("trt:Configuration", NS)
    if configuration is None:
        raise SoapFault("Sender", ("ter:InvalidArgVal",), "missing Configuration")
    encoder = _encoder_or_fault(camera, configuration.get("token", ""))
    encoding = required_text(configuration, "tt:Encoding")
    width = int(number(configuration, "tt:Resolution/tt:Width", int) or 0)
    height = int(number(configuration, "tt:Resolution/tt:Height", int) or 0)
    fps = int(number(configuration, "tt:RateControl/tt:FrameRateLimit", int) or encoder.fps)
    bitrate = int(number(configuration, "tt:RateControl/tt:BitrateLimit", int) or encoder.bitrate_kbps)
    gop = int(number(configuration, "tt:H264/tt:GovLength", int) or (1 if encoding == "JPEG" else encoder.gop))
    quality = number(configuration, "tt:Quality") or encoder.quality
    validate_encoder(encoding, width, height, fps, bitrate, gop)
    applied = camera.accepts_changes()
    if applied:
        encoder.encoding, encoder.width, encoder.height = encoding, width, height
        encoder.fps, encoder.bitrate_kbps, encoder.gop, encoder.quality = fps, bitrate, gop, quality
    camera.record_set(
        "SetVideoEncoderConfiguration",
        applied,
        token=encoder.token,
        forcePersistence=text(body, "trt:ForcePersistence") == "true",
        encoding=encoding,
        width=width,
        height=height,
        fps=fps,
        bitrateKbps=bitrate,
        gop=gop,
    )
    return "<trt:SetVideoEncoderConfigurationResponse/>"


OPERATIONS: dict[str, Handler] = {
    "GetProfiles": get_profiles,
    "GetStreamUri": get_stream_uri,
    "GetVideoEncoderConfiguration": get_video_encoder_configuration,
    "GetVideoEncoderConfigurations": get_video_encoder_configurations,
    "GetVideoEncoderConfigurationOptions": get_video_encoder_configuration_options,
    "SetVideoEncoderConfiguration": set_video_encoder_configuration,
}
