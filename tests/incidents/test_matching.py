"""Matching one frame's observed boxes to open incidents' boxes (pure; no database)."""

from __future__ import annotations

from cv.rulebook import Matching
from serve.incidents import match_boxes

PARAMS = Matching(min_iou=0.3, small_box_area=0.004, max_centre_distance=0.03)


def test_each_box_goes_to_the_incident_it_overlaps_most_and_only_once():
    incidents = [(0.10, 0.60, 0.28, 0.70), (0.30, 0.60, 0.48, 0.70)]
    observed = [(0.31, 0.60, 0.49, 0.70), (0.11, 0.60, 0.29, 0.70), (0.20, 0.60, 0.38, 0.70)]
    # The third box overlaps both incidents a little, but each is taken by a better match.
    assert sorted(match_boxes(observed, incidents, PARAMS)) == [(0, 1), (1, 0)]


def test_small_boxes_match_by_centre_distance_when_iou_is_too_low():
    poster = [(0.700, 0.200, 0.740, 0.260)]
    shifted = [(0.710, 0.212, 0.750, 0.272)]  # IoU 0.43: matches by overlap
    moved = [(0.725, 0.215, 0.765, 0.275)]  # IoU 0.16, centres 0.029 apart: matches by distance
    assert match_boxes(shifted, poster, PARAMS) == [(0, 0)]
    assert match_boxes(moved, poster, PARAMS) == [(0, 0)]
    assert match_boxes([(0.80, 0.20, 0.84, 0.26)], poster, PARAMS) == []  # a different poster


def test_large_boxes_never_match_by_centre_distance_alone():
    car = [(0.30, 0.50, 0.60, 0.80)]
    same_centre_other_shape = [(0.44, 0.30, 0.46, 1.00)]
    assert match_boxes(same_centre_other_shape, car, PARAMS) == []
