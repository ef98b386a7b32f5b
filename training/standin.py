"""A stand-in detector for tests and benchmarks: the COCO backbone with an untrained head.

It is ultralytics' yolov5n for our taxonomy with the COCO layers 0–23 transferred, exported to
ONNX exactly like a trained model. Its class branch is rescaled so that scores spread like a
trained model's (a fresh head scores every anchor ~0.001 and nothing would pass a threshold).
Cached under var/test-model, keyed by this file and the weights, so it is built once per machine.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cv.config import taxonomy_classes
from training.pretrained import COCO_WEIGHTS

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "var" / "test-model"


def _spread_scores(model) -> None:
    import torch

    for branch in model.model[-1].cv3:
        branch[-1].weight.data *= 20
        torch.nn.init.constant_(branch[-1].bias, -8.0)


def standin_model(weights: Path = REPO / COCO_WEIGHTS) -> tuple[Path, Path]:
    """(onnx, pt) of the stand-in: the same weights in both forms, for parity and benchmarks."""
    from training.export import export_onnx, save_checkpoint
    from training.pretrained import build_student

    key = hashlib.sha256(Path(__file__).read_bytes() + Path(weights).read_bytes()).hexdigest()[:12]
    onnx, pt = CACHE / f"citypatrol-test{key}.onnx", CACHE / f"standin-{key}.pt"
    if onnx.exists() and onnx.with_suffix(".json").exists() and pt.exists():
        return onnx, pt
    model = build_student(list(taxonomy_classes()), weights)
    _spread_scores(model)
    save_checkpoint(model, pt)
    return export_onnx(pt, onnx, imgsz=640, version=f"test{key}"), pt
