"""ONNX export of a trained (or freshly built) model, with the model card the runtime requires."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cv.model_card import ModelCard, sha256_of
from training import offline


def save_checkpoint(model, path: str | Path, train_args: dict | None = None) -> Path:
    """Save an in-memory DetectionModel the way ultralytics does, so `YOLO(path)` can load it."""
    offline.prepare()
    import copy

    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).float().eval()
    model.args = dict(train_args or {"imgsz": 640, "task": "detect"})
    torch.save({"model": model, "train_args": model.args, "date": dt.datetime.now().isoformat()}, path)
    return path


def export_onnx(weights: str | Path, out: str | Path, imgsz: int = 640, **card_fields) -> Path:
    """Export `weights` (an ultralytics .pt) to `out` (.onnx, dynamic batch and shape) and write its card."""
    offline.prepare()
    from ultralytics import YOLO

    model = YOLO(str(weights))
    exported = Path(model.export(format="onnx", imgsz=imgsz, dynamic=True, simplify=True, verbose=False))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    exported.replace(out)
    card = ModelCard(
        name=out.stem,
        version=card_fields.pop("version", out.stem.rsplit("-", 1)[-1]),
        classes=[model.names[i] for i in range(len(model.names))],
        imgsz=imgsz,
        sha256=sha256_of(out),
        stride=int(max(model.model.stride)),
        **card_fields,
    )
    card.save_for(out)
    return out
