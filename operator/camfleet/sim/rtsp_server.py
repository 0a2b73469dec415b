"""RTSP test-stream server for the simulator, run with the SYSTEM Python (GStreamer's bindings are
Debian packages and are not importable from the project's virtualenv):

    /usr/bin/python3 operator/camfleet/sim/rtsp_server.py --host 127.0.0.1 --port 8554

Every path under /cam/ (rtsp://HOST:PORT/cam/<id>/<profile>) plays the same shared H.264 test stream,
so ten thousand cameras cost one encoder. Prints one line `READY <port>` once listening, then runs
until SIGTERM/SIGINT. Needs: python3-gst-1.0, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-base,
-good and -ugly (x264enc).

Standard library and gi only: this file must not import camfleet.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi  # type: ignore[import-not-found]

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found]  # noqa: E402

# Small, cheap and keyframe-rich: a recorder that joins at any moment gets a picture within a second.
PIPELINE = (
    "( videotestsrc is-live=true pattern=smpte ! video/x-raw,width=640,height=360,framerate=15/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast bitrate=512 key-int-max=15 "
    "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
MOUNT_PREFIX = "/cam"


class CameraMounts(GstRtspServer.RTSPMountPoints):  # type: ignore[misc]
    """Maps every /cam/<id>/<profile> request onto the single /cam mount."""

    def do_make_path(self, url: object) -> str:
        path = str(getattr(url, "abspath", "") or "")
        return MOUNT_PREFIX if path.startswith(MOUNT_PREFIX + "/") else path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554, help="0 picks a free port")
    args = parser.parse_args(argv)

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = CameraMounts()
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    mounts.add_factory(MOUNT_PREFIX, factory)
    server.set_mount_points(mounts)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 1

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
