"""Box geometry shared by the detector (NMS) and the rules (matching, zones). Boxes are xyxy."""

from __future__ import annotations

import numpy as np


def box_area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(boxes[..., 3] - boxes[..., 1], 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU: (n, 4) × (m, 4) → (n, m)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def overlap_of_smaller(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection of `box` with each of `boxes`, over the smaller of the two areas: 1 when one box
    lies inside the other, whatever their sizes."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    return inter / np.maximum(np.minimum(box_area(np.asarray(box, np.float64)), box_area(boxes)), 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, of_smaller: bool = False) -> np.ndarray:
    """Greedy non-maximum suppression; indices kept, highest score first (torchvision's semantics).

    A box overlapping a kept one by more than `threshold` is suppressed; the overlap is IoU, or with
    `of_smaller` the intersection over the smaller box (a part of an object seen whole elsewhere)."""
    order = np.argsort(-scores, kind="stable")
    boxes = boxes.astype(np.float32)
    areas = box_area(boxes)
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        if of_smaller:
            overlap = overlap_of_smaller(boxes[best], boxes[rest])
        else:
            top_left = np.maximum(boxes[best, :2], boxes[rest, :2])
            bottom_right = np.minimum(boxes[best, 2:], boxes[rest, 2:])
            inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
            overlap = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-12)
        order = rest[overlap <= threshold]
    return np.asarray(keep, np.int64)


def class_aware_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, threshold: float,
                    of_smaller: bool = False) -> np.ndarray:
    """NMS within each class: boxes of different classes never suppress each other.

    Offsetting each class by more than any image's extent (as ultralytics does, by 7680) runs one NMS
    for all; frames wider than that (up to the 40 MP limit) get an offset beyond their boxes.
    """
    extent = max(7680.0, float(boxes.max()) + 1 if len(boxes) else 0.0)
    offset = class_ids.astype(np.float32)[:, None] * extent
    return nms(boxes + offset, scores, threshold, of_smaller)


# Zones are polygons in relative (0–1) image coordinates; boxes given to the helpers below must be in
# the same coordinates (divide pixel boxes by the frame's width and height first).


def bottom_centres(boxes: np.ndarray) -> np.ndarray:
    """The point where a ground object stands: middle of the box's bottom edge, (n, 2)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)


def box_centres(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)


def centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise distance between box centres: (n, 4) × (m, 4) → (n, m)."""
    return np.linalg.norm(box_centres(a)[:, None, :] - box_centres(b)[None, :, :], axis=2)


def box_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise shortest distance between boxes, 0 where they touch or overlap: (n, 4) × (m, 4) → (n, m)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    dx = np.clip(np.maximum(a[:, None, 0] - b[None, :, 2], b[None, :, 0] - a[:, None, 2]), 0, None)
    dy = np.clip(np.maximum(a[:, None, 1] - b[None, :, 3], b[None, :, 1] - a[:, None, 3]), 0, None)
    return np.hypot(dx, dy)


def polygon_area(polygon: np.ndarray) -> float:
    """Area of a simple polygon (shoelace formula), whatever its orientation."""
    p = np.asarray(polygon, np.float64).reshape(-1, 2)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd ray casting: which of (n, 2) points lie inside the polygon (m, 2) → (n,) bool.

    Points exactly on an edge may fall either way; zones are drawn by hand, so that never matters.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, np.float64).reshape(-1, 2)
    x, y = pts[:, 0:1], pts[:, 1:2]
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    straddles = (y1 > y) != (y2 > y)  # edge crosses the horizontal line through the point
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    crossings = np.sum(straddles & (x < x_cross), axis=1)
    return crossings % 2 == 1


def clip_polygon_to_box(polygon: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The part of a polygon inside an axis-aligned box (Sutherland–Hodgman against the box's 4 edges).

    Exact for any simple polygon, concave included: a concave polygon may come back with zero-width
    bridges along the box's edges, which add nothing to its area.
    """
    x_min, y_min, x_max, y_max = (float(v) for v in np.asarray(box).reshape(4))
    # Each clip edge: keep points with sign * coordinate[axis] >= sign * limit.
    edges = ((0, 1.0, x_min), (0, -1.0, x_max), (1, 1.0, y_min), (1, -1.0, y_max))
    out = [tuple(p) for p in np.asarray(polygon, np.float64).reshape(-1, 2)]
    for axis, sign, limit in edges:
        if not out:
            break
        points, out = out, []
        for i, current in enumerate(points):
            previous = points[i - 1]
            current_in = sign * current[axis] >= sign * limit
            previous_in = sign * previous[axis] >= sign * limit
            if current_in != previous_in:
                t = (limit - previous[axis]) / (current[axis] - previous[axis])
                out.append(tuple(previous[k] + t * (current[k] - previous[k]) for k in range(2)))
            if current_in:
                out.append(current)
    return np.asarray(out, np.float64).reshape(-1, 2)


def box_overlap_fraction(boxes: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """For each box, the fraction of its area that lies inside the polygon, in [0, 1] → (n,).

    A box with no area counts as wholly in or out by its centre.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    areas = box_area(boxes)
    fractions = np.empty(len(boxes))
    for i, (box, area) in enumerate(zip(boxes, areas)):
        if area > 0:
            fractions[i] = min(polygon_area(clip_polygon_to_box(polygon, box)) / area, 1.0)
        else:
            fractions[i] = float(points_in_polygon(box_centres(box), polygon)[0])
    return fractions
