"""cv.Detector must find what ultralytics' own predict finds on the same ONNX file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cv import Detector
from cv.geometry import box_iou

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


@pytest.fixture(scope="module")
def ultralytics_yolo():
    from training import offline

    offline.prepare()
    from ultralytics import YOLO

    return YOLO


def test_matches_ultralytics_predict(any_model, street_images, ultralytics_yolo):
    detector = Detector(any_model, conf=CONF)
    reference = ultralytics_yolo(str(any_model), task="detect")
    frames = _frames(street_images)
    assert len(frames) >= 30
    compared = 0
    for frame in frames:
        ours = detector.detect(frame)
        theirs = reference.predict(frame, imgsz=640, rect=True, conf=CONF, verbose=False)[0].boxes
        their_xyxy, their_conf, their_cls = theirs.xyxy.numpy(), theirs.conf.numpy(), theirs.cls.numpy().astype(int)
        iou = box_iou(ours.xyxy, their_xyxy) if len(ours) and len(their_xyxy) else np.zeros((len(ours), len(their_xyxy)))
        iou[ours.class_id[:, None] != their_cls[None, :]] = 0
        matched_theirs = set()
        for i in range(len(ours)):
            j = int(iou[i].argmax()) if iou.shape[1] else -1
            near_threshold = ours.confidence[i] < CONF + 1e-3
            if j < 0 or iou[i, j] < 0.99:
                assert near_threshold, f"box {ours.xyxy[i]} ({ours.names[i]} {ours.confidence[i]:.3f}) has no match"
                continue
            assert abs(ours.confidence[i] - their_conf[j]) <= 1e-3
            matched_theirs.add(j)
        missing = [j for j in range(len(their_xyxy)) if j not in matched_theirs and their_conf[j] >= CONF + 1e-3]
        assert not missing, f"ultralytics found boxes we missed: {their_xyxy[missing]}"
        compared += len(ours)
    assert compared >= 30, "too few detections to call it parity"


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
