"""Privacy masks are rasterized as their exact polygons, not their bounding boxes (R17)."""

from __future__ import annotations

import pytest

from camfleet.api.camera import Point, PrivacyMask
from camfleet.privacy_masks import MASKED, MaskPolygon, mask_pgm, masking_filter_graph, polygons_of, rasterize

# An L shape: its bounding box is the whole square 0.1..0.9, but the top-right quarter is outside it.
L_SHAPE = MaskPolygon("l-shape", ((0.1, 0.1), (0.5, 0.1), (0.5, 0.5), (0.9, 0.5), (0.9, 0.9), (0.1, 0.9)))
TRIANGLE = MaskPolygon("triangle", ((0.0, 0.0), (0.95, 0.0), (0.0, 0.95)))


def pixel(raster: bytes, width: int, x: int, y: int) -> int:
    return raster[y * width + x]


def test_points_inside_and_outside_a_concave_polygon() -> None:
    assert L_SHAPE.contains(0.3, 0.3)
    assert L_SHAPE.contains(0.7, 0.7)
    assert L_SHAPE.contains(0.3, 0.8)
    assert not L_SHAPE.contains(0.7, 0.3)  # inside the bounding box, outside the polygon
    assert not L_SHAPE.contains(0.05, 0.5)
    assert not L_SHAPE.contains(0.95, 0.95)


def test_raster_of_a_concave_polygon_leaves_its_notch_clear() -> None:
    width, height = 100, 50
    raster = rasterize([L_SHAPE], width, height)
    assert len(raster) == width * height
    assert pixel(raster, width, 30, 15) == MASKED
    assert pixel(raster, width, 70, 35) == MASKED
    assert pixel(raster, width, 70, 15) == 0  # the notch: in the bounding box, not in the polygon
    assert pixel(raster, width, 5, 25) == 0
    assert pixel(raster, width, 95, 45) == 0


def test_raster_agrees_with_the_point_test_at_every_pixel_centre() -> None:
    width, height = 64, 36
    polygons = [L_SHAPE, MaskPolygon("kite", ((0.5, 0.0), (0.8, 0.3), (0.5, 0.45), (0.6, 0.3)))]
    raster = rasterize(polygons, width, height)
    for y in range(height):
        for x in range(width):
            centre = ((x + 0.5) / width, (y + 0.5) / height)
            expected = any(p.contains(*centre) for p in polygons)
            assert (pixel(raster, width, x, y) == MASKED) == expected, (x, y)


def test_a_triangle_masks_half_the_frame_along_its_diagonal() -> None:
    width = height = 10
    raster = rasterize([TRIANGLE], width, height)
    assert pixel(raster, width, 0, 0) == MASKED
    assert pixel(raster, width, 8, 0) == MASKED
    assert pixel(raster, width, 0, 8) == MASKED
    assert pixel(raster, width, 9, 9) == 0
    assert pixel(raster, width, 6, 6) == 0
    assert (
        sum(1 for value in raster if value == MASKED) == 45
    )  # the pixels with x + y <= 8 (no centre lies on the edge)


def test_no_masks_mask_nothing() -> None:
    assert set(rasterize([], 8, 4)) == {0}


def test_pgm_header_and_size() -> None:
    data = mask_pgm([TRIANGLE], 6, 4)
    assert data.startswith(b"P5\n6 4\n255\n")
    assert len(data) == len(b"P5\n6 4\n255\n") + 24


def test_camera_masks_become_polygons_and_round_trip_as_arguments() -> None:
    mask = PrivacyMask(
        name="windows", polygon=[Point(left=0.1, top=0.2), Point(left=0.4, top=0.2), Point(left=0.25, top=0.6)]
    )
    (polygon,) = polygons_of([mask])
    assert polygon == MaskPolygon("windows", ((0.1, 0.2), (0.4, 0.2), (0.25, 0.6)))
    assert polygon.to_arg() == "windows:0.1,0.2;0.4,0.2;0.25,0.6"
    assert MaskPolygon.from_arg(polygon.to_arg()) == polygon


@pytest.mark.parametrize("text", ["windows", "windows:0.1,0.2;0.4,0.2", "w:0.1,0.2;0.4;0.5,0.5", "w:2,0;0,0;0,1"])
def test_malformed_mask_arguments_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="mask"):
        MaskPolygon.from_arg(text)


def test_filter_graph_names_its_inputs_and_output() -> None:
    graph = masking_filter_graph("0:v", "1:v", "out", ["scale=640:360", "fps=10"])
    assert graph.startswith("[0:v]scale=640:360,fps=10,format=yuv420p[masked_src];[1:v]")
    assert graph.endswith("[out]")
