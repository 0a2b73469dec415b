"""A camera's privacy masks as exact polygon masks (R17): rasterized, and blanked by ffmpeg pixel by pixel.

A mask is a polygon in fractions of the frame (`api.camera.PrivacyMask`). Blanking its bounding box would hide
more than the owner asked for and, worse, tell a viewer nothing about where the polygon lies; so the polygon
itself is rasterized at the output resolution: a pixel is masked when its centre lies inside a polygon
(even-odd rule, so a concave or self-touching outline masks what it encloses). The raster is written as a
binary PGM (white = masked), which ffmpeg reads as a second input, and `masking_filter_graph` lays black over
exactly the white pixels (the mask becomes the alpha of a black picture overlaid on the video).

Pure: no I/O, no dependency beyond the standard library. The transcoder (`recorder_pod.transcode`) and masked
exports use the same functions, so a live stream and an export of the same camera hide the same pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from camfleet.api.camera import PrivacyMask

Vertex = tuple[float, float]
"""(left, top), each a fraction of the frame's width and height, 0..1."""

MASKED = 255
CLEAR = 0


@dataclass(frozen=True)
class MaskPolygon:
    name: str
    vertices: tuple[Vertex, ...]

    def __post_init__(self) -> None:
        if len(self.vertices) < 3:
            raise ValueError(f"mask {self.name!r} needs at least 3 corners")
        if any(not (0.0 <= v <= 1.0) for vertex in self.vertices for v in vertex):
            raise ValueError(f"mask {self.name!r} has a corner outside the frame (fractions run 0..1)")

    def contains(self, left: float, top: float) -> bool:
        """Whether the point (fractions of the frame) lies inside the polygon (even-odd rule)."""
        inside = False
        count = len(self.vertices)
        for index in range(count):
            (x1, y1), (x2, y2) = self.vertices[index], self.vertices[(index + 1) % count]
            if (y1 > top) != (y2 > top):
                crossing = x1 + (top - y1) * (x2 - x1) / (y2 - y1)
                if left < crossing:
                    inside = not inside
        return inside

    def to_arg(self) -> str:
        """`name:left,top;left,top;...`: how a mask travels as one command-line argument (no secret in it)."""
        return self.name + ":" + ";".join(f"{left:g},{top:g}" for left, top in self.vertices)

    @classmethod
    def from_arg(cls, text: str) -> MaskPolygon:
        name, colon, corners = text.partition(":")
        if not colon or not name:
            raise ValueError("a mask is name:left,top;left,top;left,top[;...]")
        try:
            vertices = tuple(_vertex(corner) for corner in corners.split(";"))
        except ValueError as error:
            raise ValueError(f"mask {name!r}: corners are left,top pairs of fractions ({error})") from None
        return cls(name, vertices)


def _vertex(text: str) -> Vertex:
    left, top = text.split(",")
    return float(left), float(top)


def polygons_of(masks: Iterable[PrivacyMask]) -> list[MaskPolygon]:
    """The camera's privacy masks as polygons."""
    return [MaskPolygon(mask.name, tuple((p.left, p.top) for p in mask.polygon)) for mask in masks]


def _row_spans(polygon: MaskPolygon, top: float, width: int) -> list[tuple[int, int]]:
    """Pixel column ranges [start, end) of one row whose centres lie inside the polygon (even-odd)."""
    crossings = []
    count = len(polygon.vertices)
    for index in range(count):
        (x1, y1), (x2, y2) = polygon.vertices[index], polygon.vertices[(index + 1) % count]
        if (y1 > top) != (y2 > top):
            crossings.append(x1 + (top - y1) * (x2 - x1) / (y2 - y1))
    crossings.sort()
    spans = []
    for enter, leave in zip(crossings[0::2], crossings[1::2], strict=True):
        # pixel x is inside when enter <= (x + 0.5) / width < leave, as `contains` judges its centre
        start = max(_first_centre_at_or_after(enter, width), 0)
        end = min(_first_centre_at_or_after(leave, width), width)
        if start < end:
            spans.append((start, end))
    return spans


def _first_centre_at_or_after(fraction: float, width: int) -> int:
    position = fraction * width - 0.5
    index = int(position)
    return index if index >= position else index + 1


def rasterize(polygons: Sequence[MaskPolygon], width: int, height: int) -> bytes:
    """One byte per pixel, row by row: 255 where a pixel's centre lies inside any polygon, 0 elsewhere."""
    if width <= 0 or height <= 0:
        raise ValueError("a raster needs a positive width and height")
    raster = bytearray(width * height)
    for y in range(height):
        top = (y + 0.5) / height
        row = y * width
        for polygon in polygons:
            for start, end in _row_spans(polygon, top, width):
                raster[row + start : row + end] = bytes([MASKED]) * (end - start)
    return bytes(raster)


def pgm(raster: bytes, width: int, height: int) -> bytes:
    """A binary (P5) 8-bit PGM of the raster, which ffmpeg reads as a gray picture."""
    if len(raster) != width * height:
        raise ValueError("the raster does not have width * height bytes")
    return b"P5\n%d %d\n255\n" % (width, height) + raster


def mask_pgm(polygons: Sequence[MaskPolygon], width: int, height: int) -> bytes:
    return pgm(rasterize(polygons, width, height), width, height)


def masking_filter_graph(video: str, mask: str, output: str, before: Sequence[str] = ()) -> str:
    """An ffmpeg -filter_complex graph: `[video]` (after the `before` filters, which must leave it at the mask's
    size) with black laid over the pixels the `[mask]` PGM marks, as `[output]`.

    The mask is one still picture; overlay repeats its last frame for the whole video (eof_action=repeat).
    Black with the mask as alpha: 255 covers fully, 0 leaves the pixel as it was.
    """
    chain = ",".join([*before, "format=yuv420p"])
    return (
        f"[{video}]{chain}[masked_src];"
        f"[{mask}]format=gray,split[mask_black][mask_alpha];"
        "[mask_black]lut=c0=0[mask_zero];"
        "[mask_zero][mask_alpha]alphamerge,format=yuva420p[mask_cover];"
        f"[masked_src][mask_cover]overlay=eof_action=repeat:format=yuv420[{output}]"
    )
