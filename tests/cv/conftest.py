"""Detector models under test: a stand-in model built from the COCO backbone, plus any shipped model."""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import numpy as np
import pytest
import yaml

from cv.model_card import shipped_models

CACHE = Path(__file__).resolve().parents[2] / "var" / "test-model"


def _standin_scores(model) -> None:
    """Give the untrained head's class branch a trained head's score spread.

    A freshly built head scores every anchor ~0.001 (ultralytics' bias prior), so nothing would
    pass a threshold and parity would compare empty lists. Scaled weights and a lower bias give
    tens of candidates per frame with scores from 0.25 to ~0.9, like a real model.
    """
    import torch

    for branch in model.model[-1].cv3:
        branch[-1].weight.data *= 20
        torch.nn.init.constant_(branch[-1].bias, -8.0)


def build_test_model(repo: Path, shared: Path) -> Path:
    """ultralytics yolov5n with the COCO backbone (layers 0–23) for our taxonomy, exported to ONNX.

    Cached under var/test-model, keyed by this builder's code and the weights, so it is built once.
    """
    from training.export import export_onnx, save_checkpoint
    from training.pretrained import build_student

    weights = shared / "weights" / "yolov5n-coco.pt"
    key = hashlib.sha256(
        (inspect.getsource(build_test_model) + inspect.getsource(_standin_scores)).encode() + weights.read_bytes()
    ).hexdigest()[:12]
    onnx = CACHE / f"citypatrol-test{key}.onnx"
    if onnx.exists() and onnx.with_suffix(".json").exists():
        return onnx
    classes = [c["name"] for c in yaml.safe_load((repo / "configs" / "taxonomy.yaml").read_text())["classes"]]
    model = build_student(classes, weights)
    _standin_scores(model)
    checkpoint = save_checkpoint(model, CACHE / f"standin-{key}.pt")
    return export_onnx(checkpoint, onnx, imgsz=640, version=f"test{key}")


@pytest.fixture(scope="session")
def test_model(repo_dir, shared_dir) -> Path:
    return build_test_model(repo_dir, shared_dir)


@pytest.fixture(scope="session", params=["standin", *[p.name for p in shipped_models()]])
def any_model(request, test_model) -> Path:
    """Each model the runtime must handle: the stand-in always, the shipped ones when present."""
    if request.param == "standin":
        return test_model
    return next(p for p in shipped_models() if p.name == request.param)


@pytest.fixture(scope="session")
def street_images(shared_dir) -> list[Path]:
    """Real frames of mixed sizes and aspect ratios: facades (wide, up to 1280) and 640² street photos."""
    facades = sorted((shared_dir / "datasets" / "facades" / "images").glob("*.jpg"))
    vehicles = sorted((shared_dir / "datasets" / "street_vehicles" / "images").glob("*.jpg"))
    garbage = sorted((shared_dir / "datasets" / "garbage_bags" / "images").glob("*.jpg"))
    rng = np.random.default_rng(0)
    pick = lambda files, n: [files[i] for i in sorted(rng.choice(len(files), n, replace=False))]  # noqa: E731
    return pick(facades, 24) + pick(vehicles, 8) + pick(garbage, 4)
