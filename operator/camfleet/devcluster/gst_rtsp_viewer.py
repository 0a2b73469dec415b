"""An RTSP player on GStreamer (rtspsrc, openh264dec), run under the system Python: one JSON line on stdin
(`url`, `user`, `password`), raw GRAY8 frames of `--width`x`--height` on stdout until the stream ends; exit 0 at
the end of the stream, 1 on an error (a refusal at the door included).

Why not ffmpeg: ffmpeg keeps RTSP credentials in a 128-byte buffer, so a grant token (a JWT of several hundred
characters) sent as the RTSP password reaches the server cut short; GStreamer's rtspsrc sends it whole, as
players built on live555 or GStreamer do. The credentials come on stdin, never in argv.
"""

from __future__ import annotations

import argparse
import json
import sys

import gi  # type: ignore[import-not-found]

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # type: ignore[import-not-found]  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--height", type=int, default=18)
    parser.add_argument("--timeout-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    request = json.loads(sys.stdin.readline())
    Gst.init(None)
    pipeline = Gst.parse_launch(
        "rtspsrc name=src protocols=tcp latency=0 ! rtph264depay ! h264parse ! openh264dec ! videoscale ! "
        f"videoconvert ! video/x-raw,format=GRAY8,width={args.width},height={args.height} ! "
        "fdsink fd=1 sync=false"
    )
    source = pipeline.get_by_name("src")
    source.set_property("location", request["url"])
    if request.get("user") or request.get("password"):
        source.set_property("user-id", request.get("user", ""))
        source.set_property("user-pw", request.get("password", ""))
    source.set_property("tcp-timeout", int(args.timeout_seconds * 1_000_000))
    loop = GLib.MainLoop()
    outcome = {"code": 1}

    def on_message(_: object, message: Gst.Message) -> None:
        if message.type == Gst.MessageType.EOS:
            outcome["code"] = 0
            loop.quit()
        elif message.type == Gst.MessageType.ERROR:
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    finally:
        pipeline.set_state(Gst.State.NULL)
    return outcome["code"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
