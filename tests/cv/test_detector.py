"""The detector's contract: model cards, Detections, thread count, annotations, import isolation."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from cv import Detections, Detector, ModelCardError
from cv.detector import Crops, crop_windows
from cv.geometry import box_iou, class_aware_nms, overlap_of_smaller
from cv.draw import annotate
from cv.model_card import ModelCard, default_model_path


@pytest.fixture
def model_copy(tmp_path, test_model):
    onnx = tmp_path / "citypatrol-9.onnx"
    shutil.copy(test_model, onnx)
    shutil.copy(test_model.with_suffix(".json"), onnx.with_suffix(".json"))
    return onnx


def test_missing_card_is_a_clear_error(model_copy):
    model_copy.with_suffix(".json").unlink()
    with pytest.raises(ModelCardError, match="model card missing"):
        Detector(model_copy)


def test_card_of_another_file_is_refused(model_copy):
    card = json.loads(model_copy.with_suffix(".json").read_text())
    card["sha256"] = "0" * 64
    model_copy.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match="does not match"):
        Detector(model_copy)


def test_card_listing_other_classes_is_refused(model_copy):
    card = json.loads(model_copy.with_suffix(".json").read_text())
    card["classes"] = card["classes"][:3]
    model_copy.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match="outputs 13 classes but its card lists 3"):
        Detector(model_copy)


def test_malformed_card(model_copy):
    model_copy.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelCardError, match="invalid"):
        Detector(model_copy)
    with pytest.raises(ModelCardError, match="not found"):
        Detector(model_copy.with_name("absent.onnx"))


def test_default_model_is_newest_shipped_or_env(tmp_path, model_copy, monkeypatch):
    monkeypatch.delenv("CITYPATROL_MODEL", raising=False)
    with pytest.raises(ModelCardError, match="none shipped"):
        default_model_path(tmp_path / "empty")
    newer = model_copy.with_name("citypatrol-10.onnx")
    shutil.copy(model_copy, newer)
    ModelCard.load_for(model_copy).model_copy(update={"name": newer.stem}).save_for(newer)
    assert default_model_path(model_copy.parent) == newer  # 10 sorts after 9
    monkeypatch.setenv("CITYPATROL_MODEL", str(model_copy))
    assert default_model_path(model_copy.parent) == model_copy


def test_threads_follow_the_machine(test_model):
    import os

    detector = Detector(test_model)
    assert detector.session.get_session_options().intra_op_num_threads == len(os.sched_getaffinity(0))
    assert Detector(test_model, threads=1).session.get_session_options().intra_op_num_threads == 1


def test_streams_share_the_cores_and_detect_many_keeps_the_order(test_model, street_images):
    import os

    cores = len(os.sched_getaffinity(0))
    streams = Detector(test_model, streams=2, threads=4)
    assert streams.session.get_session_options().intra_op_num_threads == 2
    assert Detector(test_model, streams=cores).session.get_session_options().intra_op_num_threads == 1
    frames = [p.read_bytes() for p in street_images[:7]]
    one_by_one = [streams.detect(frame) for frame in frames]
    side_by_side = list(streams.detect_many(iter(frames)))  # any iterable, read ahead a little
    assert len(side_by_side) == len(frames)
    for alone, many in zip(one_by_one, side_by_side):
        assert np.array_equal(alone.class_id, many.class_id) and np.allclose(alone.xyxy, many.xyxy)
    assert [len(d) for d in Detector(test_model).detect_many(frames)] == [len(d) for d in one_by_one]
    with pytest.raises(ValueError, match="streams"):
        Detector(test_model, streams=0)


def test_detections_value(test_model, street_images):
    detector = Detector(test_model, conf=0.3)
    frame = cv2.imread(str(street_images[0]))
    dets = detector.detect(frame)
    assert dets.class_names == detector.class_names
    assert dets.xyxy.dtype == np.float32 and dets.class_id.dtype == np.int64
    assert (dets.confidence > 0.3).all()
    assert (dets.xyxy[:, 2] >= dets.xyxy[:, 0]).all() and (dets.xyxy[:, 3] >= dets.xyxy[:, 1]).all()
    records = dets.to_records()
    assert Detections.from_records(records, dets.class_names).names == dets.names
    first = dets[0]
    assert len(first) == 1 and first.names == dets.names[:1]
    assert len(dets.of_class("no_such_class")) == 0
    assert detector.detect_batch([]) == []
    with pytest.raises(ValueError, match="inconsistent"):
        Detections(np.zeros((2, 4), np.float32), np.zeros(3, np.float32), np.zeros(2, np.int64))


def test_annotate_draws_boxes_and_zones():
    frame = np.full((360, 640, 3), 40, np.uint8)
    dets = Detections.from_records([{"class": "car", "confidence": 0.9, "box": [100, 100, 300, 200]}], ("person", "car"))
    drawn = annotate(frame, dets, zones=[[(0.0, 0.7), (1.0, 0.7), (1.0, 1.0), (0.0, 1.0)]])
    assert drawn.shape == frame.shape and (frame == 40).all(), "the input must not be drawn on"
    assert (drawn[150, 100] != 40).any(), "box edge missing"
    assert (drawn[350, 320] != 40).any(), "zone shading missing"
    assert (drawn[50, 600] == 40).all(), "drew outside boxes and zones"


def test_importing_cv_loads_neither_torch_nor_ultralytics(test_model):
    code = (
        "import sys, cv; cv.Detector(sys.argv[1]);"
        "bad = [m for m in ('torch', 'ultralytics', 'serve', 'training') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(test_model)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_dependencies_exclude_torch(repo_dir):
    import tomllib

    project = tomllib.loads((repo_dir / "pyproject.toml").read_text())["project"]
    runtime = [d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in project["dependencies"]]
    assert not {"torch", "torchvision", "ultralytics"} & set(runtime)
    assert any(d.startswith("torch==") for d in project["optional-dependencies"]["train"])


# --- the second look: full-resolution crops of a frame ---------------------------------------------

@pytest.mark.parametrize("region", [(0.0, 0.0, 1.0, 1.0), (0.7, 0.0, 1.0, 0.6), (0.0, 0.0, 1.0, 0.3), (0.4, 0.4, 0.5, 0.5)])
def test_crop_windows_cover_the_region_at_twice_the_zoom(region):
    windows = crop_windows([region], (1920, 1080), 640)
    assert 1 <= len(windows) <= 4
    for x0, y0, x1, y1 in windows:
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        assert x1 - x0 == pytest.approx(0.5) and y1 - y0 == pytest.approx(0.5)  # 2× zoom, the frame's aspect
    grid = np.stack(np.meshgrid(np.linspace(region[0], region[2], 25), np.linspace(region[1], region[3], 25)), -1)
    points = grid.reshape(-1, 2)
    covered = np.zeros(len(points), bool)
    for x0, y0, x1, y1 in windows:
        covered |= (points[:, 0] >= x0 - 1e-9) & (points[:, 0] <= x1 + 1e-9) & \
                   (points[:, 1] >= y0 - 1e-9) & (points[:, 1] <= y1 + 1e-9)
    assert covered.all()


def test_no_crop_windows_when_the_frame_is_barely_larger_than_the_input():
    assert crop_windows([(0, 0, 1, 1)], (720, 405), 640) == ()
    assert len(crop_windows([(0, 0, 1, 1)], (1280, 720), 640)) == 4


def test_separate_walls_get_their_own_windows_and_never_more_than_four():
    left, right = (0.0, 0.0, 0.25, 0.75), (0.75, 0.1, 1.0, 0.75)
    windows = crop_windows([left, right], (1920, 1080), 640)
    assert len(windows) == 4  # two per wall, not the whole frame between them
    assert all(w[2] <= 0.5 or w[0] >= 0.5 for w in windows)
    many = [(x, 0.0, x + 0.05, 0.9) for x in np.linspace(0, 0.95, 6)]
    assert len(crop_windows(many, (1920, 1080), 640)) <= 4


def test_crop_detections_land_in_frame_pixels_and_compete_with_the_frames(test_model, street_images):
    detector = Detector(test_model, conf=0.05)
    frame = cv2.resize(cv2.imread(str(street_images[0])), (1920, 1080))
    merged = detector.detect(frame, Crops(((0.5, 0.25, 1.0, 0.75),), frozenset(detector.class_names)))
    alone = detector.detect(frame)
    # what the crop sees, detected on its own and shifted into the frame
    seen = detector.detect(np.ascontiguousarray(frame[270:810, 960:1920]))
    assert len(seen), "the stand-in model finds something in a street crop at conf 0.05"
    seen = Detections(seen.xyxy + np.array([960, 270, 960, 270], np.float32), seen.confidence, seen.class_id,
                      seen.class_names)
    candidates = [(box, c, conf, False) for box, c, conf in zip(alone.xyxy, alone.class_id, alone.confidence)]
    candidates += [(box, c, conf, True) for box, c, conf in zip(seen.xyxy, seen.class_id, seen.confidence)]

    def kept(box, class_id, conf) -> bool:
        same = merged.class_id == class_id
        return bool(((box_iou(box, merged.xyxy[same])[0] >= 0.99) &
                     (np.abs(merged.confidence[same] - conf) < 1e-3)).any())

    for box, class_id, conf in zip(merged.xyxy, merged.class_id, merged.confidence):  # each from the frame or crop
        assert any(c == class_id and box_iou(box, b[None])[0, 0] >= 0.99 for b, c, _, _ in candidates)
    added_by_crop = 0
    for box, class_id, conf, from_crop in candidates:
        if kept(box, class_id, conf):
            added_by_crop += from_crop
            continue
        cut = from_crop and (box[0] <= 962 or box[1] <= 272 or box[3] >= 808)  # the window's inner edges
        same = (merged.class_id == class_id) & (merged.confidence >= conf - 1e-3)
        assert cut or (overlap_of_smaller(box, merged.xyxy[same]) >= 0.5).any(), "dropped for a stronger twin"
    assert added_by_crop, "the crop adds what the frame alone does not see"


def test_a_crops_sharper_poster_replaces_the_frames_weak_one_and_cut_boxes_are_dropped(test_model):
    detector = Detector(test_model)
    names = detector.class_names
    frame = Detections.from_records([
        {"class": "fly_poster", "confidence": 0.3, "box": [100, 100, 120, 130]},
        {"class": "car", "confidence": 0.9, "box": [0, 0, 400, 300]}], names)
    crop = Detections.from_records([
        {"class": "fly_poster", "confidence": 0.8, "box": [101, 99, 121, 131]},  # the same poster, surer
        {"class": "fly_poster", "confidence": 0.6, "box": [300, 200, 310, 215]}], names)  # one the frame missed
    merged = detector._merge([frame, crop], frozenset({"fly_poster"}))
    posters = merged.of_class("fly_poster")
    assert sorted(posters.to_records(), key=lambda r: r["confidence"]) == sorted(crop.to_records(), key=lambda r: r["confidence"])
    assert merged.of_class("car").to_records() == frame.of_class("car").to_records()  # not a crop class: as it was

    from cv.detector import _cut_by_window
    # a frame of 640×480 loaded at half its size (scale 2); a 100×100 window at (100, 50) of the loaded pixels
    def cut(window_shape, boxes):
        found = Detections.from_records([{"class": "fly_poster", "confidence": 0.5, "box": b} for b in boxes], names)
        return _cut_by_window(found, window_shape, (240, 320, 3), (100, 50), (2.0, 2.0)).tolist()

    left_edge, inside = [201, 150, 230, 200], [250, 150, 300, 200]
    assert cut((100, 100, 3), [left_edge, inside, [370, 150, 399, 200]]) == [True, False, True]
    # the window widened to the frame's right edge: a box touching that edge is whole
    assert cut((100, 220, 3), [left_edge, inside, [600, 150, 639, 200]]) == [True, False, False]


def test_nms_over_the_smaller_box_and_classes_kept_apart_on_frames_wider_than_7680_px():
    boxes = np.array([[100, 100, 300, 300], [120, 120, 160, 160],  # a part inside a surer whole
                      [7700, 0, 7800, 100], [20, 0, 120, 100]], np.float32)  # 7680 px apart, two classes
    scores, classes = np.array([0.9, 0.8, 0.7, 0.6], np.float32), np.array([0, 0, 0, 1])
    assert class_aware_nms(boxes, scores, classes, 0.5).tolist() == [0, 1, 2, 3]  # IoU 0.04: both kept
    assert class_aware_nms(boxes, scores, classes, 0.5, of_smaller=True).tolist() == [0, 2, 3]


def _same_boxes(a: Detections, b: Detections) -> bool:
    """Equal up to order and the float noise of a different batch size."""
    order_a, order_b = np.lexsort((a.xyxy[:, 0], a.class_id)), np.lexsort((b.xyxy[:, 0], b.class_id))
    return len(a) == len(b) and np.array_equal(a.class_id[order_a], b.class_id[order_b]) and \
        np.allclose(a.xyxy[order_a], b.xyxy[order_b], atol=0.05)


def test_crops_keep_only_their_classes(test_model, street_images):
    detector = Detector(test_model, conf=0.05)
    frame = cv2.resize(cv2.imread(str(street_images[0])), (1920, 1080))
    alone = detector.detect(frame)
    assert _same_boxes(alone, detector.detect(frame, Crops(((0.0, 0.0, 0.5, 0.5),), frozenset())))
    poster_crop = Crops(((0.5, 0.5, 1.0, 1.0),), frozenset(["fly_poster"]))
    plain, with_crop = detector.detect_batch([frame, frame], [None, poster_crop])
    assert _same_boxes(plain, alone)
    others = with_crop[with_crop.class_id != detector.class_names.index("fly_poster")]
    assert _same_boxes(others, alone[alone.class_id != detector.class_names.index("fly_poster")])


def test_runs_split_into_at_most_max_images_give_the_same_detections(test_model, street_images):
    frame = cv2.resize(cv2.imread(str(street_images[0])), (1920, 1080))
    crops = Crops(crop_windows([(0.0, 0.0, 1.0, 1.0)], (1920, 1080), 640), frozenset({"person", "car"}))
    whole = Detector(test_model, conf=0.05).detect(frame, crops)  # 5 images in one run
    split = Detector(test_model, conf=0.05, max_images_per_run=2).detect(frame, crops)  # runs of 2, 2, 1
    assert _same_boxes(whole, split)
