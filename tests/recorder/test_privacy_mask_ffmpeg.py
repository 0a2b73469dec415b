"""Real ffmpeg blanks exactly the rasterized polygons: black inside, the picture untouched outside (R17)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from camfleet.privacy_masks import MaskPolygon, mask_pgm, masking_filter_graph

FFMPEG = "/usr/bin/ffmpeg"
WIDTH, HEIGHT = 160, 96
L_SHAPE = MaskPolygon("l-shape", ((0.1, 0.1), (0.5, 0.1), (0.5, 0.5), (0.9, 0.5), (0.9, 0.9), (0.1, 0.9)))


def test_ffmpeg_blanks_the_polygon_and_not_its_bounding_box(tmp_path: Path) -> None:
    mask = tmp_path / "mask.pgm"
    mask.write_bytes(mask_pgm([L_SHAPE], WIDTH, HEIGHT))
    graph = masking_filter_graph("0:v", "1:v", "out", [f"scale={WIDTH}:{HEIGHT}"])
    frame = subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=640x384:r=10",
         "-i", str(mask), "-filter_complex", graph, "-map", "[out]", "-frames:v", "5",
         "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"],
        check=True, capture_output=True, timeout=60,
    ).stdout[-WIDTH * HEIGHT :]  # fmt: skip

    def luma(left: float, top: float) -> int:
        return frame[int(top * HEIGHT) * WIDTH + int(left * WIDTH)]

    inside = [(0.2, 0.2), (0.45, 0.3), (0.3, 0.8), (0.8, 0.6), (0.85, 0.85)]
    assert [luma(*point) for point in inside] == [0] * len(inside)
    # The notch of the L lies inside its bounding box: the picture shows through there, and around the mask.
    outside = [(0.7, 0.2), (0.8, 0.35), (0.05, 0.5), (0.95, 0.95)]
    assert all(luma(*point) > 20 for point in outside), [luma(*point) for point in outside]
