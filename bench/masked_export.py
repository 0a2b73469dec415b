"""How fast a masked footage export re-encodes: real ffmpeg, the export's own `mask_segment`, per resolution.

Footage is made with ffmpeg's test source (H.264 in MPEG-TS, like the recorder's segments); each segment is then
masked as an export Job does it (staged copy hashed against its chain entry, ffprobe, rasterized polygons, libx264
re-encode), timed from the first byte read to the sealed file. The export Job's deadline allows
`MASKING_SECONDS_PER_SECOND` of encoding per second of footage: the table says whether that held here.

    .venv/bin/python bench/masked_export.py --seconds 10 --runs 3
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from camfleet.export.job import MASKING_SECONDS_PER_SECOND
from camfleet.export.masking import DEFAULT_TOOLS, mask_segment
from camfleet.privacy_masks import MaskPolygon
from camfleet.recorder_pod.manifest import Segment
from camfleet.recorder_pod.storage import file_digest
from report import Row, load_average, percentile, verdict, write_section

SIZES = {"640x360": 15, "1280x720": 25, "1920x1080": 25}  # resolution: frame rate
POLYGONS = [
    MaskPolygon("shop-window", ((0.05, 0.05), (0.45, 0.05), (0.05, 0.6))),
    MaskPolygon("flat-balcony", ((0.5, 0.05), (0.95, 0.05), (0.95, 0.6), (0.85, 0.6), (0.85, 0.2), (0.5, 0.2))),
]


def footage(folder: Path, size: str, rate: int, seconds: int) -> Path:
    path = folder / f"source-{size}.ts"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s={size}:r={rate}",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-g", str(rate * 2), "-f", "mpegts",
         str(path)],
        check=True, timeout=600,
    )  # fmt: skip
    return path


def masking_seconds(source: Path, folder: Path, seconds: int) -> float:
    size, sha256 = file_digest(source)
    target = folder / "seg-000000001.ts"
    target.unlink(missing_ok=True)
    started = time.monotonic()
    mask_segment(source, target, Segment(1, source.name, size, sha256, 0.0, float(seconds)), POLYGONS, DEFAULT_TOOLS)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=10, help="footage per segment")
    parser.add_argument("--runs", type=int, default=3, help="segments masked per resolution")
    args = parser.parse_args()
    started_load = load_average()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="camfleet-bench-mask-") as temporary:
        folder = Path(temporary)
        for size, rate in SIZES.items():
            source = footage(folder, size, rate, args.seconds)
            times = [masking_seconds(source, folder, args.seconds) for _ in range(args.runs)]
            worst = max(times) / args.seconds
            rows.append(
                (
                    f"{size}@{rate}: encoding seconds per footage second (p50 / max of {args.runs})",
                    f"{percentile(times, 0.5) / args.seconds:.2f} / {worst:.2f}",
                    f"<= {MASKING_SECONDS_PER_SECOND} (Job deadline allowance)",
                    verdict(worst <= MASKING_SECONDS_PER_SECOND),
                )
            )
    command = f".venv/bin/python bench/masked_export.py --seconds {args.seconds} --runs {args.runs}"
    notes = [
        "Each run: stage and hash the original, ffprobe, rasterize two polygons, libx264 veryfast CRF 18 re-encode.",
        "Other work on the machine slows it: compare the load average.",
    ]
    write_section("Masked export re-encoding", command, rows, notes, started_load)


if __name__ == "__main__":
    main()
