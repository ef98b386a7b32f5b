"""Hard negatives: the training images on which a model finds what their labels say is not there.

An image's labels settle a class when its source labels that class completely (`complete`) or
declares it absent (`negatives`: real facades hold no fly-posters). A detection of such a class that
overlaps no label box of its class is then a false one: a plaque, a small sign or a lamp behind
glass taken for a poster. `train --hard-negatives MODEL` shows those images more often, the offline
twin of what operators' rejections bring in through the retraining loop.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cv.config import load_taxonomy
from cv.geometry import box_iou
from training.build import DEFAULT_WORK, label_file, load_index, read_labels
from training.teacher import yolo_to_xyxy

MINE_CONF = 0.25     # the runtime's default confidence: what a camera would report
SAME_OBJECT_IOU = 0.1  # a detection touching a label box of its class is that object, badly boxed


def false_detections(model: str | Path, work: str | Path = DEFAULT_WORK, conf: float = MINE_CONF,
                     classes: list[str] | None = None, progress: bool = True) -> dict[str, dict[str, int]]:
    """`{training image name: {class: false detections}}` for the images where `model` (an ONNX
    model, run by `cv.Detector`) finds at least one object its labels settle as absent.
    `classes` limits the search (default: every class an image's labels settle)."""
    import cv2

    from cv import Detector

    names = load_taxonomy().names
    unknown = set(classes or ()) - set(names)
    if unknown:
        raise ValueError(f"not taxonomy classes: {', '.join(sorted(unknown))}")
    detector = Detector(model, conf=conf)
    found: dict[str, dict[str, int]] = {}
    records = [r for r in load_index(work) if r.split == "train"]
    for record in tqdm(records, desc="mine hard negatives", disable=not progress, unit="img"):
        settled = {names.index(c) for c in (*record.complete, *record.negatives) if not classes or c in classes}
        if not settled:
            continue
        dets = detector.detect(cv2.imread(record.image))
        rows = read_labels(label_file(work, record))
        labels = yolo_to_xyxy(rows, record.width, record.height)
        label_classes = np.array([row[0] for row in rows], int)
        false = Counter(names[class_id] for box, class_id in zip(dets.xyxy, dets.class_id)
                        if class_id in settled and _unlabelled(box, labels[label_classes == class_id]))
        if false:
            found[record.name] = dict(false)
    return found


def _unlabelled(box: np.ndarray, same_class_labels: np.ndarray) -> bool:
    return not len(same_class_labels) or box_iou(box[None], same_class_labels).max() < SAME_OBJECT_IOU


def summary(found: dict[str, dict[str, int]]) -> dict[str, int]:
    """False detections per class over all mined images."""
    return dict(sorted(sum((Counter(per_class) for per_class in found.values()), Counter()).items()))
