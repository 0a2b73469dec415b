"""PTZ (tptz) and Imaging (timg) operations. Moves complete instantly: status is always IDLE.

Every move (ContinuousMove, RelativeMove, Stop, GotoPreset, GotoHomePosition) is recorded with the account that
sent it (`Camera.record_move`); the control API shows them under `ptz.moves`."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from camfleet.sim.ops_device import Context, Handler
from camfleet.sim.ops_media import PROFILES, PTZ_NODE_TOKEN, VIDEO_SOURCE_TOKEN
from camfleet.sim.soap import NS, SoapFault, action_not_supported, attr, esc, number, required_text, text, xml_bool
from camfleet.sim.state import Camera, Preset, Quirk

MAX_PRESETS = 16
_PAN_TILT_SPACE = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"
_ZOOM_SPACE = "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"


def _camera_with_ptz(ctx: Context, body: etree._Element, operation: str) -> Camera:
    if ctx.camera.has(Quirk.NO_PTZ):
        raise action_not_supported(operation)
    token = text(body, "tptz:ProfileToken")
    if token is not None and token != PROFILES[0][0]:
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:NoProfile"), "profile has no PTZ configuration")
    return ctx.camera


def _vector_xml(position: tuple[float, float, float]) -> str:
    pan, tilt, zoom = position
    return (
        f'<tt:PanTilt x="{pan:g}" y="{tilt:g}" space="{_PAN_TILT_SPACE}"/><tt:Zoom x="{zoom:g}" space="{_ZOOM_SPACE}"/>'
    )


def get_nodes(ctx: Context, body: etree._Element) -> str:
    if ctx.camera.has(Quirk.NO_PTZ):
        raise action_not_supported("GetNodes")
    return (
        f'<tptz:GetNodesResponse><tptz:PTZNode token="{PTZ_NODE_TOKEN}" FixedHomePosition="false">'
        "<tt:Name>ptz</tt:Name><tt:SupportedPTZSpaces>"
        f"<tt:AbsolutePanTiltPositionSpace><tt:URI>{_PAN_TILT_SPACE}</tt:URI>"
        "<tt:XRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:XRange>"
        "<tt:YRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:YRange></tt:AbsolutePanTiltPositionSpace>"
        f"<tt:AbsoluteZoomPositionSpace><tt:URI>{_ZOOM_SPACE}</tt:URI>"
        "<tt:XRange><tt:Min>0</tt:Min><tt:Max>1</tt:Max></tt:XRange></tt:AbsoluteZoomPositionSpace>"
        f"</tt:SupportedPTZSpaces><tt:MaximumNumberOfPresets>{MAX_PRESETS}</tt:MaximumNumberOfPresets>"
        f"<tt:HomeSupported>{xml_bool(not ctx.camera.has(Quirk.NO_PTZ_HOME))}</tt:HomeSupported>"
        "</tptz:PTZNode></tptz:GetNodesResponse>"
    )


def get_presets(ctx: Context, body: etree._Element) -> str:
    camera = _camera_with_ptz(ctx, body, "GetPresets")
    presets = "".join(
        f"<tptz:Preset token={attr(p.token)}><tt:Name>{esc(p.name)}</tt:Name>"
        f"<tt:PTZPosition>{_vector_xml(p.position)}</tt:PTZPosition></tptz:Preset>"
        for p in camera.presets
    )
    return f"<tptz:GetPresetsResponse>{presets}</tptz:GetPresetsResponse>"


def set_preset(ctx: Context, body: etree._Element) -> str:
    camera = _camera_with_ptz(ctx, body, "SetPreset")
    name = text(body, "tptz:PresetName")
    token = text(body, "tptz:PresetToken")
    existing = next((p for p in camera.presets if p.token == token), None) if token else None
    if token and existing is None:
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:NoToken"), "no such preset")
    if existing is None and len(camera.presets) >= MAX_PRESETS:
        raise SoapFault("Receiver", ("ter:Action", "ter:TooManyPresets"), "maximum number of presets reached")
    applied = camera.accepts_changes()
    if existing is not None:
        token = existing.token
        if applied:
            existing.position = camera.ptz_position
            existing.name = name or existing.name
    else:
        token = camera.new_token("preset")
        if applied:
            camera.presets.append(Preset(token, name or token, camera.ptz_position))
    camera.record_set("SetPreset", applied, token=token, name=name, position=list(camera.ptz_position))
    return f"<tptz:SetPresetResponse><tptz:PresetToken>{esc(token)}</tptz:PresetToken></tptz:SetPresetResponse>"


def absolute_move(ctx: Context, body: etree._Element) -> str:
    camera = _camera_with_ptz(ctx, body, "AbsoluteMove")
    pan_tilt = body.find("tptz:Position/tt:PanTilt", NS)
    zoom = body.find("tptz:Position/tt:Zoom", NS)
    pan, tilt, current_zoom = camera.ptz_position
    try:
        if pan_tilt is not None:
            pan, tilt = float(pan_tilt.get("x", pan)), float(pan_tilt.get("y", tilt))
        if zoom is not None:
            current_zoom = float(zoom.get("x", current_zoom))
    except ValueError:
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:InvalidPosition"), "position is not a number") from None
    if not (-1 <= pan <= 1 and -1 <= tilt <= 1 and 0 <= current_zoom <= 1):
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:InvalidPosition"), "position outside the generic space")
    # A move is an action, not a setting: even an ignores-set camera moves.
    camera.ptz_position = (pan, tilt, current_zoom)
    return "<tptz:AbsoluteMoveResponse/>"


def get_status(ctx: Context, body: etree._Element) -> str:
    camera = _camera_with_ptz(ctx, body, "GetStatus")
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=camera.skew_seconds)
    return (
        f"<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>{_vector_xml(camera.ptz_position)}</tt:Position>"
        "<tt:MoveStatus><tt:PanTilt>IDLE</tt:PanTilt><tt:Zoom>IDLE</tt:Zoom></tt:MoveStatus>"
        f"<tt:UtcTime>{now.strftime('%Y-%m-%dT%H:%M:%SZ')}</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>"
    )


def set_home_position(ctx: Context, body: etree._Element) -> str:
    camera = _camera_with_ptz(ctx, body, "SetHomePosition")
    applied = camera.accepts_changes()
    if applied:
        camera.ptz_home = camera.ptz_position
    camera.record_set("SetHomePosition", applied, position=list(camera.ptz_position))
    return "<tptz:SetHomePositionResponse/>"


def goto_home_position(ctx: Context, body: etree._Element) -> str:
    camera = _camera_with_ptz(ctx, body, "GotoHomePosition")
    if camera.has(Quirk.NO_PTZ_HOME):
        raise action_not_supported("GotoHomePosition")
    camera.ptz_position = camera.ptz_home
    camera.record_move("GotoHomePosition", position=list(camera.ptz_position))
    return "<tptz:GotoHomePositionResponse/>"


def _vector(body: etree._Element, path: str) -> tuple[float, float, float]:
    """(pan, tilt, zoom) of a PTZVector or PTZSpeed under `path`; absent parts are 0."""
    pan_tilt = body.find(f"{path}/tt:PanTilt", NS)
    zoom = body.find(f"{path}/tt:Zoom", NS)
    try:
        pan = float(pan_tilt.get("x", 0)) if pan_tilt is not None else 0.0
        tilt = float(pan_tilt.get("y", 0)) if pan_tilt is not None else 0.0
        z = float(zoom.get("x", 0)) if zoom is not None else 0.0
    except ValueError:
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:InvalidPosition"), "vector is not a number") from None
    return pan, tilt, z


def continuous_move(ctx: Context, body: etree._Element) -> str:
    camera = _camera_with_ptz(ctx, body, "ContinuousMove")
    velocity = _vector(body, "tptz:Velocity")
    if not all(-1 <= v <= 1 for v in velocity):
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:InvalidVelocity"), "velocity outside the generic space")
    camera.record_move("ContinuousMove", velocity=list(velocity), timeout=text(body, "tptz:Timeout"))
    return "<tptz:ContinuousMoveResponse/>"


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def relative_move(ctx: Context, body: etree._Element) -> str:
    camera = _camera_with_ptz(ctx, body, "RelativeMove")
    if camera.has(Quirk.NO_PTZ_RELATIVE):
        raise action_not_supported("RelativeMove")
    d_pan, d_tilt, d_zoom = _vector(body, "tptz:Translation")
    pan, tilt, zoom = camera.ptz_position
    camera.ptz_position = (_clamp(pan + d_pan, -1, 1), _clamp(tilt + d_tilt, -1, 1), _clamp(zoom + d_zoom, 0, 1))
    camera.record_move("RelativeMove", translation=[d_pan, d_tilt, d_zoom], position=list(camera.ptz_position))
    return "<tptz:RelativeMoveResponse/>"


def stop(ctx: Context, body: etree._Element) -> str:
    camera = _camera_with_ptz(ctx, body, "Stop")
    camera.record_move("Stop", panTilt=text(body, "tptz:PanTilt"), zoom=text(body, "tptz:Zoom"))
    return "<tptz:StopResponse/>"


def goto_preset(ctx: Context, body: etree._Element) -> str:
    camera = _camera_with_ptz(ctx, body, "GotoPreset")
    token = required_text(body, "tptz:PresetToken")
    preset = next((p for p in camera.presets if p.token == token), None)
    if preset is None:
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:NoToken"), "no such preset")
    camera.ptz_position = preset.position
    camera.record_move("GotoPreset", preset=token, position=list(camera.ptz_position))
    return "<tptz:GotoPresetResponse/>"


PTZ_OPERATIONS: dict[str, Handler] = {
    "GetNodes": get_nodes,
    "GetPresets": get_presets,
    "SetPreset": set_preset,
    "AbsoluteMove": absolute_move,
    "GetStatus": get_status,
    "SetHomePosition": set_home_position,
    "GotoHomePosition": goto_home_position,
    "ContinuousMove": continuous_move,
    "RelativeMove": relative_move,
    "Stop": stop,
    "GotoPreset": goto_preset,
}


def _video_source(body: etree._Element) -> None:
    if required_text(body, "timg:VideoSourceToken") != VIDEO_SOURCE_TOKEN:
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:NoSource"), "no such video source")


def get_imaging_settings(ctx: Context, body: etree._Element) -> str:
    _video_source(body)
    return (
        "<timg:GetImagingSettingsResponse><timg:ImagingSettings>"
        f"<tt:Brightness>{ctx.camera.brightness:g}</tt:Brightness>"
        "</timg:ImagingSettings></timg:GetImagingSettingsResponse>"
    )


def set_imaging_settings(ctx: Context, body: etree._Element) -> str:
    _video_source(body)
    camera = ctx.camera
    brightness = number(body, "timg:ImagingSettings/tt:Brightness")
    applied = camera.accepts_changes()
    if applied and brightness is not None:
        camera.brightness = brightness
    camera.record_set("SetImagingSettings", applied, brightness=brightness)
    return "<timg:SetImagingSettingsResponse/>"


IMAGING_OPERATIONS: dict[str, Handler] = {
    "GetImagingSettings": get_imaging_settings,
    "SetImagingSettings": set_imaging_settings,
}
