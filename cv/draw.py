"""Evidence drawing: detection boxes with labels, optionally the zones they were judged against."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from cv.detections import Detections


def class_colour(class_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per class (golden-ratio hues)."""
    hue = int((class_id * 0.618033988749895 % 1.0) * 180)
    bgr = cv2.cvtColor(np.uint8([[[hue, 220, 235]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def annotate(
    image: np.ndarray,
    detections: Detections,
    zones: Sequence[Sequence[tuple[float, float]]] = (),
    zone_colour: tuple[int, int, int] = (0, 200, 255),
) -> np.ndarray:
    """A copy of `image` with `zones` (relative 0–1 polygons) shaded and each detection boxed and labelled."""
    canvas = image.copy()
    height, width = canvas.shape[:2]
    thickness = max(1, round(max(height, width) / 640))
    if zones:
        overlay = canvas.copy()
        for polygon in zones:
            points = np.round(np.asarray(polygon, np.float64) * (width, height)).astype(np.int32)
            cv2.fillPoly(overlay, [points], zone_colour)
            cv2.polylines(canvas, [points], True, zone_colour, thickness, cv2.LINE_AA)
        canvas = cv2.addWeighted(overlay, 0.25, canvas, 0.75, 0)
    scale = 0.45 * thickness
    for (x1, y1, x2, y2), name, conf, class_id in zip(
        detections.xyxy.round().astype(int), detections.names, detections.confidence, detections.class_id
    ):
        colour = class_colour(int(class_id))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        label = f"{name} {conf:.2f}"
        (tw, th), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = y1 - th - baseline - 2 if y1 - th - baseline - 2 >= 0 else y1
        cv2.rectangle(canvas, (x1, top), (x1 + tw + 2, top + th + baseline + 2), colour, -1)
        cv2.putText(canvas, label, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas
