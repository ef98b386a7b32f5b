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


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices kept, highest score first (torchvision's semantics)."""
    order = np.argsort(-scores, kind="stable")
    boxes = boxes.astype(np.float32)
    areas = box_area(boxes)
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        top_left = np.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.int64)


def class_aware_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float) -> np.ndarray:
    """NMS within each class: boxes of different classes never suppress each other.

    Offsetting each class by more than any image's extent (as ultralytics does) runs one NMS for all.
    """
    offset = class_ids.astype(np.float32)[:, None] * 7680.0
    return nms(boxes + offset, scores, iou_threshold)
