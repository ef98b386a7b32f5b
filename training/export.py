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


def save_weights(trained: str | Path, out: str | Path) -> Path:
    """The trained weights without optimizer state (half the size): what a later retrain starts from."""
    offline.prepare()
    from ultralytics.utils.torch_utils import strip_optimizer

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    strip_optimizer(str(trained), s=str(out))
    return out


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


def parity_check(onnx_path: str | Path, images: list, imgsz: int = 640, conf: float = 0.25,
                 iou_min: float = 0.99, conf_tol: float = 1e-3) -> dict:
    """The runtime (`cv.Detector`) against ultralytics' own predict on the exported ONNX file.

    Every box either side must have a partner of the same class with IoU ≥ `iou_min` and confidence
    within `conf_tol`; boxes within `conf_tol` of the threshold may appear on one side only.
    Returns counts and the mismatches (empty when the two agree)."""
    offline.prepare()
    import cv2
    import numpy as np
    from ultralytics import YOLO

    from cv import Detector
    from cv.geometry import box_iou

    detector = Detector(onnx_path, conf=conf)
    reference = YOLO(str(onnx_path), task="detect")
    compared, mismatches, frames = 0, [], 0
    for item in images:
        frame = cv2.imread(str(item)) if not isinstance(item, np.ndarray) else item
        frames += 1
        ours = detector.detect(frame)
        theirs = reference.predict(frame, imgsz=imgsz, rect=True, conf=conf, verbose=False)[0].boxes
        t_xyxy, t_conf, t_cls = theirs.xyxy.numpy(), theirs.conf.numpy(), theirs.cls.numpy().astype(int)
        iou = box_iou(ours.xyxy, t_xyxy) if len(ours) and len(t_xyxy) else np.zeros((len(ours), len(t_xyxy)))
        iou[ours.class_id[:, None] != t_cls[None, :]] = 0
        matched = set()
        for i in range(len(ours)):
            j = int(iou[i].argmax()) if iou.shape[1] else -1
            if j < 0 or iou[i, j] < iou_min or abs(float(ours.confidence[i]) - float(t_conf[j])) > conf_tol:
                if ours.confidence[i] >= conf + conf_tol:
                    mismatches.append({"image": str(item) if not isinstance(item, np.ndarray) else frames - 1,
                                       "runtime_box": ours.xyxy[i].round(1).tolist(),
                                       "class": int(ours.class_id[i]), "conf": float(ours.confidence[i])})
                continue
            matched.add(j)
            compared += 1
        for j in range(len(t_xyxy)):
            if j not in matched and t_conf[j] >= conf + conf_tol:
                mismatches.append({"image": str(item) if not isinstance(item, np.ndarray) else frames - 1,
                                   "ultralytics_box": t_xyxy[j].round(1).tolist(), "class": int(t_cls[j]),
                                   "conf": float(t_conf[j])})
    return {"frames": frames, "boxes_matched": compared, "mismatches": mismatches[:20],
            "passed": not mismatches, "criteria": f"same class, IoU >= {iou_min}, |conf diff| <= {conf_tol}"}
