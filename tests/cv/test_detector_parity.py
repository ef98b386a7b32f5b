"""cv.Detector must find what ultralytics' own predict finds on the same ONNX file."""

from __future__ import annotations

import cv2
import numpy as np

from cv import Detector

CONF = 0.25


def _frames(paths) -> list[np.ndarray]:
    """The shared images plus shapes they lack: portrait, full HD, small, odd-sized."""
    images = [cv2.imread(str(p)) for p in paths]
    wide = images[0]
    images += [
        np.ascontiguousarray(wide.transpose(1, 0, 2)),  # portrait
        cv2.resize(wide, (1920, 1080)),
        cv2.resize(wide, (320, 181)),  # upscaled by the letterbox
        wide[:517, :333],
    ]
    return images


def test_matches_ultralytics_predict(any_model, street_images):
    """The export step's own parity check (training/export.py), on real frames of mixed shapes."""
    from training.export import parity_check

    frames = _frames(street_images)
    assert len(frames) >= 30
    result = parity_check(any_model, frames, imgsz=640, conf=CONF)
    assert result["passed"], result["mismatches"]
    assert result["boxes_matched"] >= 30, "too few detections to call it parity"


def test_batch_matches_single_frames(test_model, street_images):
    detector = Detector(test_model)
    frames = [cv2.imread(str(p)) for p in street_images[:4]]
    frames = [cv2.resize(f, (1280, 720)) for f in frames]  # one shape: the batch letterbox is each frame's own
    for single, batched in zip([detector.detect(f) for f in frames], detector.detect_batch(frames)):
        assert len(single) == len(batched)
        np.testing.assert_allclose(single.xyxy, batched.xyxy, atol=0.05)
        np.testing.assert_allclose(single.confidence, batched.confidence, atol=1e-4)


def test_batch_of_mixed_shapes_maps_boxes_to_each_frame(test_model, street_images):
    detector = Detector(test_model, conf=0.1)
    frames = [cv2.imread(str(p)) for p in (street_images[0], street_images[-1])]
    results = detector.detect_batch(frames)
    for frame, dets in zip(frames, results):
        h, w = frame.shape[:2]
        assert len(dets) > 0
        assert (dets.xyxy[:, [0, 2]] <= w).all() and (dets.xyxy[:, [1, 3]] <= h).all() and (dets.xyxy >= 0).all()
