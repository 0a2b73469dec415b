"""Device service operations (tds) of a simulated camera."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from camfleet.sim.soap import NS, SoapFault, action_not_supported, boolean, esc, number, text, xml_bool
from camfleet.sim.state import Camera, Quirk

MANUFACTURER = "camfleet"
MODEL = "SimCam 1080"
FIRMWARE = "1.4.2-sim"


@dataclass(frozen=True, slots=True)
class Context:
    """What an operation needs besides its request: the camera and where its services live."""

    camera: Camera
    service_base: str  # http://host:port/cam/<id>/onvif
    rtsp_base: str  # rtsp://host:port/cam/<id>


Handler = Callable[[Context, etree._Element], str]


def _date_time(moment: dt.datetime, camera: Camera | None = None) -> str:
    """tt:DateTime children; a quirky camera puts Date first or uses the tds namespace."""
    p = "tds" if camera is not None and camera.has(Quirk.DATE_TDS_NAMESPACE) else "tt"
    time = (
        f"<{p}:Time><{p}:Hour>{moment.hour}</{p}:Hour><{p}:Minute>{moment.minute}</{p}:Minute>"
        f"<{p}:Second>{moment.second}</{p}:Second></{p}:Time>"
    )
    date = (
        f"<{p}:Date><{p}:Year>{moment.year}</{p}:Year><{p}:Month>{moment.month}</{p}:Month>"
        f"<{p}:Day>{moment.day}</{p}:Day></{p}:Date>"
    )
    return date + time if camera is not None and camera.has(Quirk.DATE_BEFORE_TIME) else time + date


def get_system_date_and_time(ctx: Context, body: etree._Element) -> str:
    camera = ctx.camera
    return (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        f"<tt:DateTimeType>{camera.time_source}</tt:DateTimeType>"
        f"<tt:DaylightSavings>{xml_bool(camera.daylight_savings)}</tt:DaylightSavings>"
        f"<tt:TimeZone><tt:TZ>{esc(camera.timezone)}</tt:TZ></tt:TimeZone>"
        f"<tt:UTCDateTime>{_date_time(camera.reported_utc(), camera)}</tt:UTCDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def set_system_date_and_time(ctx: Context, body: etree._Element) -> str:
    camera = ctx.camera
    time_source = text(body, "tds:DateTimeType")
    if time_source not in ("NTP", "Manual"):
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:InvalidDateTime"), "DateTimeType must be NTP or Manual")
    timezone = text(body, "tds:TimeZone/tt:TZ")
    utc = body.find("tds:UTCDateTime", NS)
    applied = camera.accepts_changes()
    if applied:
        camera.time_source = time_source
        camera.daylight_savings = bool(boolean(body, "tds:DaylightSavings"))
        if timezone is not None:
            camera.timezone = timezone
        if time_source == "Manual" and utc is not None:
            camera.skew_seconds = (_parse_date_time(utc) - dt.datetime.now(dt.UTC)).total_seconds()
        camera.sync_clock_if_ntp()
    camera.record_set("SetSystemDateAndTime", applied, timeSource=time_source, timezone=timezone)
    return "<tds:SetSystemDateAndTimeResponse/>"


def _parse_date_time(element: etree._Element) -> dt.datetime:
    def part(path: str) -> int:
        value = number(element, path, int)
        if value is None:
            raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:InvalidDateTime"), f"missing {path}")
        return int(value)

    try:
        return dt.datetime(
            part("tt:Date/tt:Year"), part("tt:Date/tt:Month"), part("tt:Date/tt:Day"),
            part("tt:Time/tt:Hour"), part("tt:Time/tt:Minute"), part("tt:Time/tt:Second"), tzinfo=dt.UTC,
        )  # fmt: skip
    except ValueError:
        raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:InvalidDateTime"), "invalid date") from None


def get_device_information(ctx: Context, body: etree._Element) -> str:
    camera_id = esc(ctx.camera.camera_id)
    return (
        "<tds:GetDeviceInformationResponse>"
        f"<tds:Manufacturer>{MANUFACTURER}</tds:Manufacturer><tds:Model>{MODEL}</tds:Model>"
        f"<tds:FirmwareVersion>{FIRMWARE}</tds:FirmwareVersion>"
        f"<tds:SerialNumber>SIM-{camera_id}</tds:SerialNumber><tds:HardwareId>simcam-{camera_id}</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse>"
    )


def advertised_services(ctx: Context) -> list[tuple[str, str, int]]:
    """(namespace, path, major version) of every service this camera exposes."""
    camera = ctx.camera
    services = [(NS["tds"], "device_service", 2), (NS["trt"], "media_service", 2)]
    if not camera.has(Quirk.NO_MEDIA2):
        services.append((NS["tr2"], "media2_service", 2))
    if not camera.has(Quirk.NO_PTZ):
        services.append((NS["tptz"], "ptz_service", 2))
    services.append((NS["timg"], "imaging_service", 2))
    return services


def get_services(ctx: Context, body: etree._Element) -> str:
    if ctx.camera.has(Quirk.NO_GET_SERVICES):
        raise action_not_supported("GetServices")
    entries = "".join(
        f"<tds:Service><tds:Namespace>{namespace}</tds:Namespace>"
        f"<tds:XAddr>{esc(ctx.service_base)}/{path}</tds:XAddr>"
        f"<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>40</tt:Minor></tds:Version></tds:Service>"
        for namespace, path, major in advertised_services(ctx)
    )
    return f"<tds:GetServicesResponse>{entries}</tds:GetServicesResponse>"


def get_capabilities(ctx: Context, body: etree._Element) -> str:
    base = esc(ctx.service_base)
    ptz = "" if ctx.camera.has(Quirk.NO_PTZ) else f"<tt:PTZ><tt:XAddr>{base}/ptz_service</tt:XAddr></tt:PTZ>"
    return (
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        f"<tt:Imaging><tt:XAddr>{base}/imaging_service</tt:XAddr></tt:Imaging>"
        f"<tt:Media><tt:XAddr>{base}/media_service</tt:XAddr><tt:StreamingCapabilities>"
        "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>"
        f"</tt:StreamingCapabilities></tt:Media>{ptz}"
        "</tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


def _network_host(server: str) -> str:
    if server.replace(".", "").isdigit():
        return f"<tt:Type>IPv4</tt:Type><tt:IPv4Address>{esc(server)}</tt:IPv4Address>"
    if ":" in server:
        return f"<tt:Type>IPv6</tt:Type><tt:IPv6Address>{esc(server)}</tt:IPv6Address>"
    return f"<tt:Type>DNS</tt:Type><tt:DNSname>{esc(server)}</tt:DNSname>"


def get_ntp(ctx: Context, body: etree._Element) -> str:
    camera = ctx.camera
    if camera.has(Quirk.NO_NTP):
        raise action_not_supported("GetNTP")
    if camera.has(Quirk.NTP_EMPTY):
        return "<tds:GetNTPResponse><tds:NTPInformation/></tds:GetNTPResponse>"
    element = "tt:NTPFromDHCP" if camera.ntp_from_dhcp else "tt:NTPManual"
    hosts = "".join(f"<{element}>{_network_host(s)}</{element}>" for s in camera.ntp_servers)
    return (
        "<tds:GetNTPResponse><tds:NTPInformation>"
        f"<tt:FromDHCP>{xml_bool(camera.ntp_from_dhcp)}</tt:FromDHCP>{hosts}"
        "</tds:NTPInformation></tds:GetNTPResponse>"
    )


def set_ntp(ctx: Context, body: etree._Element) -> str:
    camera = ctx.camera
    if camera.has(Quirk.NO_NTP):
        raise action_not_supported("SetNTP")
    servers = []
    for host in body.findall("tds:NTPManual", NS):
        kind = text(host, "tt:Type")
        field = {"IPv4": "tt:IPv4Address", "IPv6": "tt:IPv6Address", "DNS": "tt:DNSname"}.get(kind or "")
        value = text(host, field) if field else None
        if value is None:
            raise SoapFault("Sender", ("ter:InvalidArgVal", "ter:InvalidNetworkHost"), "bad NTPManual entry")
        servers.append(value)
    applied = camera.accepts_changes()
    if applied:
        camera.ntp_from_dhcp = bool(boolean(body, "tds:FromDHCP"))
        camera.ntp_servers = tuple(servers)
        camera.sync_clock_if_ntp()
    camera.record_set("SetNTP", applied, servers=servers)
    return "<tds:SetNTPResponse/>"


OPERATIONS: dict[str, Handler] = {
    "GetSystemDateAndTime": get_system_date_and_time,
    "SetSystemDateAndTime": set_system_date_and_time,
    "GetDeviceInformation": get_device_information,
    "GetServices": get_services,
    "GetCapabilities": get_capabilities,
    "GetNTP": get_ntp,
    "SetNTP": set_ntp,
}
