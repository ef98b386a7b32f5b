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
