"""`teacher`: the COCO YOLOv5n checkpoint, run with its own anchor-based head, pseudo-labels the
COCO classes of our taxonomy on every image; its threshold is measured against real labels.

The backbone and neck (layers 0–23) run as ultralytics' `yolov5n.yaml` model (the student's
architecture, `training.pretrained`); YOLOv5's head (layer 24) is three 1×1 convolutions applied to
the three feature maps that enter ultralytics' head (strides 8, 16, 32), decoded as YOLOv5 does
(../shared/weights/SOURCES.md, "Running it as the teacher").

Raw detections (conf ≥ RAW_CONF) are kept per image under `teacher_raw/`, so the threshold can be
changed without running the network again; `merge` writes the training labels:
source labels + teacher boxes at ≥ threshold for the classes the source does not label completely,
minus teacher boxes that duplicate a source box.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from cv.config import load_taxonomy
from cv.detector import letterbox, rect_shape
from cv.geometry import box_iou, class_aware_nms
from training import offline
from training.build import (DEFAULT_WORK, ImageRecord, label_file, load_index, read_labels, save_index,
                            write_labels)
from training.pretrained import COCO_NAMES, COCO_WEIGHTS, build_student, load_coco_state_dict

# COCO class -> taxonomy class (bench has no taxonomy class; stalls are decided by rules).
COCO_TO_TAXONOMY = {
    "person": "person", "bicycle": "bicycle", "motorcycle": "motorcycle", "car": "car", "bus": "bus",
    "truck": "truck", "umbrella": "umbrella", "dining_table": "table", "chair": "chair",
}
RAW_CONF = 0.05  # what is stored; the training threshold is applied in `merge`
DEFAULT_THRESHOLD = 0.35  # replaced by the measured one (see `measure_threshold`)
DUPLICATE_IOU = 0.5  # a teacher box over a source box by this IoU is the same object


def yolo_to_xyxy(rows, width: int, height: int) -> np.ndarray:
    if not len(rows):
        return np.zeros((0, 4), np.float32)
    a = np.asarray([r[1:5] for r in rows], np.float32)
    return np.stack([(a[:, 0] - a[:, 2] / 2) * width, (a[:, 1] - a[:, 3] / 2) * height,
                     (a[:, 0] + a[:, 2] / 2) * width, (a[:, 1] + a[:, 3] / 2) * height], 1)


def xyxy_to_yolo(box, width: int, height: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (max(0.0, min(float(box[0]), width)), max(0.0, min(float(box[1]), height)),
                      max(0.0, min(float(box[2]), width)), max(0.0, min(float(box[3]), height)))
    return (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height


class Teacher:
    """YOLOv5n COCO with its anchor-based head; `detect(bgr)` → (xyxy, conf, taxonomy_id) in pixels."""

    STRIDES = (8, 16, 32)

    def __init__(self, weights: str | Path = COCO_WEIGHTS, imgsz: int = 640, iou: float = 0.45):
        offline.prepare()
        import torch

        self.torch = torch
        self.imgsz, self.iou = imgsz, iou
        state = load_coco_state_dict(weights)
        self.body = build_student(list(COCO_NAMES), weights).eval()
        self.heads = torch.nn.ModuleList()
        for i in range(3):
            w, b = state[f"model.24.m.{i}.weight"], state[f"model.24.m.{i}.bias"]
            conv = torch.nn.Conv2d(w.shape[1], w.shape[0], 1)
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(b)
            self.heads.append(conv.eval())
        self.anchors = state["model.24.anchors"].float()  # (3, 3, 2) in stride units
        taxonomy = load_taxonomy()
        # COCO id -> taxonomy id for the classes we take; others map to -1 (dropped after argmax).
        self.coco_to_tax = np.full(len(COCO_NAMES), -1, np.int64)
        for coco, ours in COCO_TO_TAXONOMY.items():
            self.coco_to_tax[COCO_NAMES.index(coco)] = taxonomy.index(ours)

    def _features(self, x):
        """The three inputs of ultralytics' head (layers 17, 20, 23 of yolov5n.yaml)."""
        layers = self.body.model
        outputs = []
        for m in layers[:-1]:
            if m.f != -1:
                x = outputs[m.f] if isinstance(m.f, int) else [x if j == -1 else outputs[j] for j in m.f]
            x = m(x)
            outputs.append(x)
        return [outputs[j] for j in layers[-1].f]

    def raw(self, batch):
        """(B, 3, H, W) float in [0, 1] → (B, N, 85): xywh in input pixels, objectness, 80 class scores."""
        torch = self.torch
        results = []
        for i, (feature, head) in enumerate(zip(self._features(batch), self.heads)):
            b, _, ny, nx = feature.shape
            stride = self.STRIDES[i]
            s = head(feature).view(b, 3, 85, ny, nx).permute(0, 1, 3, 4, 2).sigmoid()
            gy, gx = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
            grid = torch.stack((gx, gy), 2).view(1, 1, ny, nx, 2).float()
            anchor = (self.anchors[i] * stride).view(1, 3, 1, 1, 2)
            xy = (s[..., 0:2] * 2 - 0.5 + grid) * stride
            wh = (s[..., 2:4] * 2) ** 2 * anchor
            results.append(torch.cat((xy, wh, s[..., 4:]), -1).view(b, -1, 85))
        return torch.cat(results, 1)

    def detect(self, image_bgr: np.ndarray, conf: float = RAW_CONF):
        height, width = image_bgr.shape[:2]
        shape = rect_shape(height, width, self.imgsz, 32)
        fitted, lb = letterbox(image_bgr, shape, self.imgsz)
        x = self.torch.from_numpy(np.ascontiguousarray(fitted[..., ::-1].transpose(2, 0, 1))).float()[None] / 255
        with self.torch.inference_mode():
            pred = self.raw(x)[0].numpy()
        scores = pred[:, 5:] * pred[:, 4:5]
        coco_id = scores.argmax(1)
        score = scores[np.arange(len(scores)), coco_id]
        tax_id = self.coco_to_tax[coco_id]
        keep = (score >= conf) & (tax_id >= 0)
        xywh, score, tax_id = pred[keep, :4], score[keep], tax_id[keep]
        boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
        order = class_aware_nms(boxes, score, tax_id, self.iou)[:300]
        boxes, score, tax_id = boxes[order], score[order], tax_id[order]
        boxes[:, [0, 2]] = np.clip((boxes[:, [0, 2]] - lb.left) / lb.gain_x, 0, width)
        boxes[:, [1, 3]] = np.clip((boxes[:, [1, 3]] - lb.top) / lb.gain_y, 0, height)
        return boxes.astype(np.float32), score.astype(np.float32), tax_id


def raw_path(work: Path, record: ImageRecord) -> Path:
    return Path(work) / "teacher_raw" / record.split / f"{record.name}.txt"


def read_raw(path: Path) -> list[tuple]:
    """Stored teacher detections: (taxonomy_id, cx, cy, w, h, conf), normalised."""
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        p = line.split()
        rows.append((int(p[0]), *map(float, p[1:6])))
    return rows


def run_teacher(work: str | Path = DEFAULT_WORK, teacher: Teacher | None = None, progress: bool = True,
                only_missing: bool = True, keep=lambda record: True) -> int:
    """Run the teacher on every real image of the dataset (that `keep` accepts); store its raw detections."""
    work = Path(work)
    records = [r for r in load_index(work) if not r.synthetic and keep(r)]
    teacher = teacher or Teacher()
    done = 0
    for record in tqdm(records, desc="teacher", disable=not progress, unit="img"):
        out = raw_path(work, record)
        if only_missing and out.exists():
            continue
        image = cv2.imread(record.original)
        boxes, conf, cls = teacher.detect(image)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(
            f"{c} {' '.join(f'{v:.6f}' for v in xyxy_to_yolo(b, record.width, record.height))} {s:.4f}\n"
            for b, s, c in zip(boxes, conf, cls)))
        done += 1
    return done


def match(pred_boxes, pred_cls, gt_boxes, gt_cls, iou: float = 0.5) -> np.ndarray:
    """Greedy matching by decreasing order of `pred` (already sorted): True where a prediction hits a
    not-yet-matched ground-truth box of the same class with IoU ≥ `iou`."""
    hit = np.zeros(len(pred_boxes), bool)
    if not len(pred_boxes) or not len(gt_boxes):
        return hit
    ious = box_iou(np.asarray(pred_boxes, np.float32), np.asarray(gt_boxes, np.float32))
    used = np.zeros(len(gt_boxes), bool)
    for i in range(len(pred_boxes)):
        candidates = np.where((~used) & (gt_cls == pred_cls[i]) & (ious[i] >= iou))[0]
        if candidates.size:
            j = candidates[ious[i, candidates].argmax()]
            used[j] = hit[i] = True
    return hit


def measure_threshold(work: str | Path = DEFAULT_WORK, source: str = "street_vehicles",
                      thresholds: tuple[float, ...] = tuple(round(0.1 + 0.05 * i, 2) for i in range(15))) -> dict:
    """Precision / recall / F1 of the stored teacher labels against a source's real labels, for the
    classes that source labels completely (street_vehicles: car, motorcycle, bus) at IoU 0.5.

    The chosen threshold maximises F1 (a missed object is taught as background, a false one as an
    object: both cost the student about equally)."""
    work = Path(work)
    taxonomy = load_taxonomy()
    records = [r for r in load_index(work) if r.source == source and not r.synthetic]
    if not records:
        raise ValueError(f"no images of {source} in {work}")
    classes = sorted({taxonomy.index(c) for c in records[0].complete})
    per_image = []
    for r in records:
        gt = [row for row in read_labels(work / "src_labels" / r.split / f"{r.name}.txt") if row[0] in classes]
        raw = sorted((row for row in read_raw(raw_path(work, r)) if row[0] in classes), key=lambda row: -row[5])
        gt_boxes, gt_cls = yolo_to_xyxy(gt, r.width, r.height), np.array([g[0] for g in gt], np.int64)
        pred_boxes = yolo_to_xyxy(raw, r.width, r.height)
        pred_cls = np.array([p[0] for p in raw], np.int64)
        conf = np.array([p[5] for p in raw], np.float32)
        per_image.append((gt_cls, pred_boxes, pred_cls, conf, gt_boxes))
    table = []
    for t in thresholds:
        tp = fp = n_gt = 0
        per_class = {c: [0, 0, 0] for c in classes}  # tp, fp, gt
        for gt_cls, pred_boxes, pred_cls, conf, gt_boxes in per_image:
            keep = conf >= t
            hits = match(pred_boxes[keep], pred_cls[keep], gt_boxes, gt_cls)
            tp += int(hits.sum())
            fp += int((~hits).sum())
            n_gt += len(gt_cls)
            for c in classes:
                per_class[c][0] += int(hits[pred_cls[keep] == c].sum())
                per_class[c][1] += int((~hits[pred_cls[keep] == c]).sum())
                per_class[c][2] += int((gt_cls == c).sum())
        precision = tp / max(tp + fp, 1)
        recall = tp / max(n_gt, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        table.append({
            "threshold": t, "precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3),
            "per_class": {taxonomy.names[c]: {"precision": round(v[0] / max(v[0] + v[1], 1), 3),
                                              "recall": round(v[0] / max(v[2], 1), 3)}
                          for c, v in per_class.items()},
        })
    best = max(table, key=lambda row: row["f1"])
    return {"source": source, "images": len(records), "iou": 0.5,
            "classes": [taxonomy.names[c] for c in classes],
            "labels": int(sum(len(p[0]) for p in per_image)),
            "chosen_threshold": best["threshold"], "chosen": best, "table": table}


def _off(teacher: list[tuple], boxes: list[tuple], record: ImageRecord, same_class: bool) -> list[tuple]:
    """The teacher rows that lie on none of `boxes` (YOLO rows) by IoU >= DUPLICATE_IOU (and, with
    `same_class`, of the row's class)."""
    if not teacher or not boxes:
        return teacher
    hits = box_iou(yolo_to_xyxy(teacher, record.width, record.height),
                   yolo_to_xyxy(boxes, record.width, record.height)) >= DUPLICATE_IOU
    if same_class:
        hits &= np.array([row[0] for row in teacher])[:, None] == np.array([b[0] for b in boxes])[None]
    return [row for row, hit in zip(teacher, hits.any(1)) if not hit]


def merge(work: str | Path = DEFAULT_WORK, threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Training labels = source labels + teacher labels (≥ threshold) for classes the source does not
    label completely, dropping teacher boxes that duplicate a source box (IoU ≥ DUPLICATE_IOU) and,
    on field frames, those on a box of their class that an operator rejected."""
    work = Path(work)
    taxonomy = load_taxonomy()
    records = load_index(work)
    added = {name: 0 for name in taxonomy.names}
    for r in records:
        if r.synthetic:
            continue
        src = read_labels(work / "src_labels" / r.split / f"{r.name}.txt")
        complete = {taxonomy.index(c) for c in r.complete}
        teacher = [row for row in read_raw(raw_path(work, r)) if row[5] >= threshold and row[0] not in complete]
        # a source box is the same object whatever the teacher calls it; a rejected box only for its class
        teacher = _off(teacher, src, r, same_class=False)
        rejected = [(c, *xyxy_to_yolo(np.array(box) * [r.width, r.height, r.width, r.height], r.width, r.height))
                    for c, *box in r.extra.get("rejected_boxes") or []]
        teacher = _off(teacher, rejected, r, same_class=True)
        for row in teacher:
            added[taxonomy.names[row[0]]] += 1
        rows = src + [row[:5] for row in teacher]
        write_labels(label_file(work, r), rows)
        r.labels = len(rows)
        r.extra["teacher_labels"] = len(teacher)
    save_index(work, records, teacher={"threshold": threshold, "labels_added": added})
    return added


def save_measurement(work: str | Path, measurement: dict) -> Path:
    path = Path(work) / "teacher_threshold.json"
    path.write_text(json.dumps(measurement, indent=1))
    return path
