"""Property-based tests (hypothesis) of the zone geometry: points in polygons, overlap fractions, IoU."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cv.geometry import box_iou, box_overlap_fraction, points_in_polygon, polygon_area

unit = st.floats(0, 1, allow_nan=False)


@st.composite
def boxes(draw, min_side: float = 0.01) -> np.ndarray:
    x1, y1 = draw(st.floats(0, 1 - min_side)), draw(st.floats(0, 1 - min_side))
    x2, y2 = draw(st.floats(x1 + min_side, 1)), draw(st.floats(y1 + min_side, 1))
    return np.array([x1, y1, x2, y2])


@st.composite
def star_polygons(draw) -> np.ndarray:
    """Simple polygons, concave ones included: vertices around the centre at increasing angles,
    less than half a turn apart, so the polygon is a fan of triangles around the centre."""
    n = draw(st.integers(3, 12))
    # Gaps drawn in [1, 1.9] and scaled to a full turn: none reaches half a turn.
    weights = draw(st.lists(st.floats(1, 1.9), min_size=n, max_size=n))
    start = draw(st.floats(0, 2 * math.pi))
    angles = start + 2 * math.pi * np.cumsum([0, *weights[:-1]]) / sum(weights)
    radii = draw(st.lists(st.floats(0.05, 0.5), min_size=n, max_size=n))
    return np.array([[0.5 + r * math.cos(a), 0.5 + r * math.sin(a)] for a, r in zip(angles, radii)])


def rectangle(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])


def intersection_area(a: np.ndarray, b: np.ndarray) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


@given(boxes(), boxes())
def test_iou_is_symmetric_bounded_and_one_with_itself(a, b):
    iou = box_iou(a, b)[0, 0]
    assert 0 <= iou <= 1
    assert math.isclose(iou, box_iou(b, a)[0, 0], abs_tol=1e-12)
    assert math.isclose(box_iou(a, a)[0, 0], 1.0)


@given(boxes(), boxes(), st.floats(0.1, 10))
def test_iou_does_not_depend_on_image_scale(a, b, scale):
    assert math.isclose(box_iou(a, b)[0, 0], box_iou(a * scale, b * scale)[0, 0], abs_tol=1e-9)


@given(boxes(), st.lists(st.tuples(unit, unit), min_size=1, max_size=50))
def test_points_in_a_rectangle_are_those_within_its_bounds(box, points):
    x1, y1, x2, y2 = box
    points = np.array(points)
    margin = 1e-9  # exactly on an edge may go either way
    assume(not np.any(np.isclose(points[:, 0], x1, atol=margin) | np.isclose(points[:, 0], x2, atol=margin)))
    assume(not np.any(np.isclose(points[:, 1], y1, atol=margin) | np.isclose(points[:, 1], y2, atol=margin)))
    expected = (points[:, 0] > x1) & (points[:, 0] < x2) & (points[:, 1] > y1) & (points[:, 1] < y2)
    assert np.array_equal(points_in_polygon(points, rectangle(box)), expected)


@given(star_polygons(), st.lists(st.tuples(unit, unit), min_size=1, max_size=50), st.integers(0, 11))
def test_point_in_polygon_ignores_orientation_and_starting_vertex(polygon, points, shift):
    inside = points_in_polygon(np.array(points), polygon)
    assert np.array_equal(inside, points_in_polygon(np.array(points), polygon[::-1]))
    assert np.array_equal(inside, points_in_polygon(np.array(points), np.roll(polygon, shift % len(polygon), axis=0)))


@given(star_polygons())
def test_vertices_pulled_towards_the_centre_are_inside(polygon):
    pulled = 0.5 + (polygon - 0.5) * 0.5  # halfway along each fan triangle's edge from the centre
    assert points_in_polygon(pulled, polygon).all()


@given(boxes(), boxes())
def test_overlap_with_a_rectangle_is_the_intersection_over_the_box_area(box, zone):
    area = (box[2] - box[0]) * (box[3] - box[1])
    expected = intersection_area(box, zone) / area
    assert math.isclose(box_overlap_fraction(box, rectangle(zone))[0], expected, abs_tol=1e-9)


@given(boxes(), star_polygons())
def test_overlap_fraction_is_a_fraction(box, polygon):
    assert 0 <= box_overlap_fraction(box, polygon)[0] <= 1


@given(star_polygons())
def test_the_whole_frame_overlaps_a_polygon_by_its_area(polygon):
    whole_frame = np.array([0.0, 0.0, 1.0, 1.0])
    assert math.isclose(box_overlap_fraction(whole_frame, polygon)[0], polygon_area(polygon), abs_tol=1e-9)


@given(boxes(), star_polygons())
@settings(max_examples=50)
def test_overlap_fraction_agrees_with_counting_points_in_the_polygon(box, polygon):
    """Clipping (areas) and ray casting (points) are two implementations of one question."""
    grid = (np.arange(60) + 0.5) / 60
    xs, ys = np.meshgrid(box[0] + grid * (box[2] - box[0]), box[1] + grid * (box[3] - box[1]))
    counted = points_in_polygon(np.stack([xs.ravel(), ys.ravel()], axis=1), polygon).mean()
    assert abs(box_overlap_fraction(box, polygon)[0] - counted) < 0.08


@given(boxes(), st.floats(0.05, 0.95), st.floats(0.05, 0.95))
def test_overlap_adds_up_over_the_parts_of_a_concave_zone(box, split_x, split_y):
    """An L-shaped (concave) zone is the union of two rectangles that do not overlap."""
    l_shape = np.array([[0, 0], [split_x, 0], [split_x, split_y], [1, split_y], [1, 1], [0, 1]])
    left, bottom_right = np.array([0, 0, split_x, 1]), np.array([split_x, split_y, 1, 1])
    parts = box_overlap_fraction(box, rectangle(left))[0] + box_overlap_fraction(box, rectangle(bottom_right))[0]
    assert math.isclose(box_overlap_fraction(box, l_shape)[0], parts, abs_tol=1e-9)
