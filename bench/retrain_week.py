"""A week of operator reviews, simulated on street images the shipped model never trained on, then a
retrain: per-class AP50 and false alarms at the same recall, before and after, on held-out cameras.

    .venv/bin/python bench/retrain_week.py [--model models/citypatrol-0.3.0.onnx] [--epochs 4] [--replay 300] [--blend 0.5]

1. The field: 65 % of the real images of the fixed validation split (facades, street_vehicles,
   garbage_bags; by a hash of the name), which no shipped model trained on; the other 35 % stay the
   old split that the gate compares on. Each field image is a frame of one of 12 simulated cameras
   (by a hash of its file name); the field split by camera (training.field) holds some cameras out.
2. A week of reviews on the other cameras: the model detects at the service's threshold (0.25), and
   each detection is reviewed from the ground truth (source + teacher labels): confirmed when it
   matches a true object of its class (IoU >= 0.5), corrected to the true class and box when it
   matches one of another class, rejected otherwise (a false alarm: the frame becomes a hard negative
   for it). Objects the model missed reach no operator and stay unlabelled, as in the field. The
   result is written as a `citypatrol export-dataset` folder. The held-out cameras' frames carry
   their full ground truth: they are the measurement, not training data.
3. `citypatrol-train retrain` on a copy of the dataset whose old validation split no longer holds
   the field images, nor synthetic images composited on them (they would be on both sides).
4. Before and after on the held-out cameras: per-class AP50, and false alarms per frame at the
   recall the shipped model reaches at 0.25.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cv import Detector  # noqa: E402
from cv.config import load_taxonomy  # noqa: E402
from cv.geometry import box_iou  # noqa: E402
from cv.model_card import default_model_path  # noqa: E402
from training.build import DEFAULT_WORK, copy_dataset, load_index, read_labels, write_labels  # noqa: E402
from training.evaluate import _ap_of, runtime_stats  # noqa: E402
from training.field import FIELD_SOURCE, field_split  # noqa: E402
from training.retrain import EPOCHS, REPLAY  # noqa: E402
from training.teacher import xyxy_to_yolo, yolo_to_xyxy  # noqa: E402

CAMERAS = 12
FIELD_PERCENT = 65
REVIEW_CONF = 0.25  # the service's detector threshold: what operators get to see
MATCH_IOU = 0.5


def camera_of(name: str) -> str:
    return f"field-{int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % CAMERAS:02d}"


def review(dets, truth: np.ndarray, truth_cls: np.ndarray) -> tuple[list[tuple], dict[int, str]]:
    """Operators' verdicts from the ground truth: (labels as (class, xyxy), outcome per detection)."""
    labels, outcomes = [], {}
    iou = box_iou(dets.xyxy, truth) if len(truth) and len(dets) else np.zeros((len(dets), len(truth)))
    taken = np.zeros(len(truth), bool)
    for i in np.argsort(-dets.confidence):
        free = np.where(taken, 0.0, iou[i])
        same = np.where(truth_cls == dets.class_id[i], free, 0.0)
        if same.size and same.max() >= MATCH_IOU:
            j = int(same.argmax())
            labels.append((int(dets.class_id[i]), dets.xyxy[i]))
            outcomes[int(i)] = "confirmed"
        elif free.size and free.max() >= MATCH_IOU:
            j = int(free.argmax())
            labels.append((int(truth_cls[j]), truth[j]))
            outcomes[int(i)] = "corrected"
        else:
            outcomes[int(i)] = "rejected"
            continue
        taken[j] = True
    return labels, outcomes


def in_field(name: str) -> bool:
    """FIELD_PERCENT % of the real validation images play the field; the rest stay the old split."""
    return int(hashlib.sha1(f"field:{name}".encode()).hexdigest()[:8], 16) % 100 < FIELD_PERCENT


def simulate_week(model: Path, work: Path, out: Path) -> tuple[list, dict]:
    """Review the field frames with `model`; write the export folder; return the field records and counts."""
    records = [r for r in load_index(work)
               if r.split == "val" and not r.synthetic and r.source != FIELD_SOURCE and in_field(r.name)]
    detector = Detector(model, conf=REVIEW_CONF)
    names = detector.class_names
    shutil.rmtree(out, ignore_errors=True)
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir()
    counts = {"frames": {"train": 0, "val": 0}, "confirmed": 0, "corrected": 0, "rejected": 0, "labels": {}}
    with open(out / "manifest.jsonl", "w", encoding="utf-8") as manifest:
        for day, record in enumerate(records):
            camera = camera_of(record.name)
            side = field_split(camera)
            rows = read_labels(work / "data" / "labels" / "val" / f"{record.name}.txt")
            truth = yolo_to_xyxy(rows, record.width, record.height)
            truth_cls = np.array([r[0] for r in rows], np.int64)
            image = cv2.imread(record.image)
            rejected = []
            if side == "train":
                dets = detector.detect(image)
                labels, outcomes = review(dets, truth, truth_cls)
                for i, outcome in outcomes.items():
                    counts[outcome] += 1
                    if outcome == "rejected":
                        rejected.append([int(dets.class_id[i]), *(np.asarray(dets.xyxy[i]) /
                                         [record.width, record.height, record.width, record.height]).round(6).tolist()])
            else:  # held-out cameras: the measurement set, with every true object
                labels, outcomes = list(zip(truth_cls.tolist(), truth)), {}
            stem = f"{camera}-{record.name}"
            shutil.copyfile(os.path.realpath(record.image), out / "images" / f"{stem}.jpg")
            write_labels(out / "labels" / f"{stem}.txt",
                         [(c, *xyxy_to_yolo(b, record.width, record.height)) for c, b in labels])
            for c, _ in labels:
                counts["labels"][names[c]] = counts["labels"].get(names[c], 0) + 1
            counts["frames"][side] += 1
            manifest.write(json.dumps({
                "image": f"images/{stem}.jpg", "label": f"labels/{stem}.txt", "camera_id": camera,
                "frame_id": record.name, "captured_at": f"2026-11-{16 + day % 7:02d}T10:00:00+08:00",
                "point_types": [], "review_outcomes": {str(i): o for i, o in outcomes.items()},
                "model_version": detector.version, "rulebook_versions": [], "machine_labels": [],
                "rejected_boxes": rejected,
                "licence": f"simulated reviews of {record.source} (see ../shared/datasets/SOURCES.md)",
            }, ensure_ascii=False) + "\n")
    return records, counts


def false_alarms_at_recall(stats: dict, images: list[str], names: list[str], recall: float | None = None) -> dict:
    """False detections per frame where recall (IoU 0.5, all classes) first reaches `recall`;
    without one, at the service threshold. `by_class`: the false alarms' predicted classes."""
    tp = np.concatenate([stats[p][0][:, 0] for p in images])
    conf = np.concatenate([stats[p][1] for p in images])
    predicted = np.concatenate([stats[p][2] for p in images])
    truths = sum(len(stats[p][3]) for p in images)
    order = np.argsort(-conf, kind="stable")
    hits, misses = np.cumsum(tp[order]), np.cumsum(~tp[order])
    if recall is None:
        k = int((conf >= REVIEW_CONF).sum()) - 1
    else:
        reached = np.flatnonzero(hits / max(truths, 1) >= recall - 1e-9)
        k = int(reached[0]) if len(reached) else len(order) - 1
    false = order[: k + 1][~tp[order[: k + 1]]]
    by_class = {names[c]: int(n) for c, n in zip(*np.unique(predicted[false], return_counts=True))}
    return {"threshold": round(float(conf[order][k]), 4), "recall": round(float(hits[k] / max(truths, 1)), 4),
            "false_alarms": int(misses[k]), "per_frame": round(float(misses[k] / len(images)), 3),
            "by_class": dict(sorted(by_class.items(), key=lambda item: -item[1]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="the shipped model (default: the one in service)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="the built dataset (citypatrol-train build …)")
    parser.add_argument("--out", type=Path, default=Path("var/week"))
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--replay", type=int, default=REPLAY)
    parser.add_argument("--blend", type=float, default=None, metavar="ALPHA",
                        help="average the fine-tune with the parent's weights (retrain --blend)")
    args = parser.parse_args()

    from training.retrain import retrain

    model = args.model or default_model_path()
    started = time.time()
    field, counts = simulate_week(model, args.work, args.out / "export")
    # the old validation split loses the field frames and synthetic images composited on them: what the
    # field teaches must not also be what the gate measures
    used = {r.name for r in field}
    work = copy_dataset(args.work, args.out / "train", keep=lambda r: r.name not in used and r.background not in used)
    card = retrain(args.out / "export", work=work, parent=model, out_dir=args.out / "candidates",
                   epochs=args.epochs, replay=args.replay, runs=args.out / "runs", blend_alpha=args.blend)
    candidate = args.out / "candidates" / f"{card['name']}.onnx"

    records = load_index(work)
    held_out = [os.path.abspath(r.image) for r in records if r.source == FIELD_SOURCE and r.split == "val"]
    by_image = {os.path.abspath(r.image): r for r in records if r.split == "val"}
    names = load_taxonomy().names
    results = {}
    for label, onnx in (("before", model), ("after", candidate)):
        stats, _ = runtime_stats(Detector(onnx, conf=0.001, max_det=300), held_out, by_image, work, progress=False)
        results[label] = {"ap": _ap_of(stats, held_out, names), "stats": stats}
    at_threshold = false_alarms_at_recall(results["before"]["stats"], held_out, names)
    same_recall = false_alarms_at_recall(results["after"]["stats"], held_out, names, at_threshold["recall"])

    print(f"model {model.name} → candidate {candidate.name} ({card['training']['epochs']} epochs, "
          f"{card['training']['train_images']} training images, {card['training']['seconds']} s); "
          f"whole run {time.time() - started:.0f} s")
    print(f"week of reviews: {counts['frames']['train']} frames from "
          f"{len(card['lineage']['field_data']['cameras']['train'])} cameras; {counts['confirmed']} confirmed, "
          f"{counts['corrected']} corrected, {counts['rejected']} rejected; labels {counts['labels']}")
    print(f"held out: {len(held_out)} frames from cameras {card['lineage']['field_data']['cameras']['val']}")
    print("| class | AP50 before | AP50 after | objects |\n|---|---|---|---|")
    before, after = results["before"]["ap"]["per_class"], results["after"]["ap"]["per_class"]
    for name in sorted(before, key=lambda n: -before[n]["instances"]):
        print(f"| {name} | {before[name]['ap50']:.3f} | {after.get(name, {}).get('ap50', 0):.3f} | "
              f"{before[name]['instances']} |")
    print(f"| **mAP50** | {results['before']['ap']['map50']:.3f} | {results['after']['ap']['map50']:.3f} | |")
    print(f"false alarms per frame: before {at_threshold['per_frame']} at conf {REVIEW_CONF} (recall "
          f"{at_threshold['recall']}); after {same_recall['per_frame']} at the same recall "
          f"(conf {same_recall['threshold']}, recall {same_recall['recall']})")
    print(f"false alarms by class: before {at_threshold['by_class']}; after {same_recall['by_class']}")
    print(f"gate: {'passed' if card['gate']['passed'] else 'refused'} — {card['gate']['reason']}")
    (args.out / "result.json").write_text(json.dumps({
        "counts": counts, "before": results["before"]["ap"], "after": results["after"]["ap"],
        "false_alarms_before": at_threshold, "false_alarms_after_same_recall": same_recall,
        "gate": card["gate"], "training": card["training"]}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
