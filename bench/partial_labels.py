"""Partial labels: ignore the gaps, or fill them with a first model's pseudo-labels? Measured side by side.

    .venv/bin/python bench/partial_labels.py --first var/runs/citypatrol/weights/last.pt [--conf 0.5] [--epochs 2]

Each source labels only some of our own classes: facades box shop signs and window ads but not the
garbage in front of them; garbage_bags box garbage but not the shop signs behind it; street_vehicles
box neither. An unlabelled object is taught as background. Two ways out (issue 4):
  ignore  — train on the labels as they are (what citypatrol-0.1.0 and 0.2.0 do);
  pseudo  — a first model labels its own classes (garbage, shop_sign, window_ad; not fly_poster,
            which exists only where we paste it) on the real training images of the sources that do
            not label them, at a high confidence.
Both fine-tune the same first model on the same images (every real training image of the three
sources plus their synthetic variants, a fixed sample) for the same epochs, and are evaluated by
the runtime on the fixed validation split, where each class is scored on the images whose source
labels it completely (so that neither variant is judged against gaps).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cv import Detector  # noqa: E402
from cv.config import load_taxonomy  # noqa: E402
from cv.geometry import box_iou  # noqa: E402
from training.build import DEFAULT_WORK, copy_dataset, load_index, read_labels, write_labels  # noqa: E402
from training.evaluate import _ap_of, runtime_stats  # noqa: E402
from training.export import export_onnx  # noqa: E402
from training.teacher import xyxy_to_yolo, yolo_to_xyxy  # noqa: E402
from training.train import train  # noqa: E402

PSEUDO_CLASSES = ("garbage", "shop_sign", "window_ad")


def add_pseudo_labels(work: Path, first_onnx: Path, conf: float) -> dict:
    """Label the gaps of real training images with the first model; returns boxes added per class."""
    names = load_taxonomy().names
    detector = Detector(first_onnx, conf=conf)
    added = dict.fromkeys(PSEUDO_CLASSES, 0)
    for r in load_index(work):
        gaps = [names.index(c) for c in PSEUDO_CLASSES if c not in r.complete]
        if r.split != "train" or r.synthetic or not gaps:
            continue
        label = work / "data" / "labels" / "train" / f"{r.name}.txt"
        rows = read_labels(label)
        known = yolo_to_xyxy(rows, r.width, r.height)
        dets = detector.detect(cv2.imread(r.image))
        keep = np.isin(dets.class_id, gaps)
        if len(known):  # not where an object is labelled already
            keep &= ~(box_iou(dets.xyxy, known) >= 0.5).any(axis=1)
        new = [(int(c), *xyxy_to_yolo(b, r.width, r.height)) for c, b in zip(dets.class_id[keep], dets.xyxy[keep])]
        for c, *_ in new:
            added[names[c]] += 1
        if new:
            write_labels(label, rows + new)
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first", type=Path, required=True, help="the first model's ultralytics weights (.pt)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--out", type=Path, default=Path("var/partial"))
    parser.add_argument("--conf", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--images", type=int, default=900, help="training images (fixed sample by name hash)")
    parser.add_argument("--imgsz", type=int, default=512)
    args = parser.parse_args()

    out = args.out.absolute()
    first_onnx = export_onnx(args.first, Path(tempfile.mkdtemp()) / "citypatrol-first.onnx", imgsz=640, version="first")
    names = load_taxonomy().names
    results, added = {}, {}
    for variant in ("ignore", "pseudo"):
        work = copy_dataset(args.work, out / variant)
        if variant == "pseudo":
            added = add_pseudo_labels(work, first_onnx, args.conf)
        records = load_index(work)
        sample = sorted((r for r in records if r.split == "train"), key=lambda r: hashlib.sha1(r.name.encode()).hexdigest())
        weights = train(work, out / "runs", name=variant, epochs=args.epochs, imgsz=args.imgsz, start=args.first,
                        train_images=[os.path.abspath(r.image) for r in sample[: args.images]], verbose=False)
        onnx = export_onnx(weights, out / f"citypatrol-{variant}.onnx", imgsz=640, version=variant)
        val = {os.path.abspath(r.image): r for r in records if r.split == "val" and r.source != "field"}
        stats, _ = runtime_stats(Detector(onnx, conf=0.001, max_det=300), sorted(val), val, work, progress=False)
        results[variant] = {}
        for cls in (*PSEUDO_CLASSES, "person", "car"):
            judged = [p for p, r in val.items() if cls in r.complete or cls in ("person", "car")]
            results[variant][cls] = _ap_of(stats, judged, names)["per_class"].get(cls, {}).get("ap50")
    print(f"first model {args.first}; pseudo-labels at conf >= {args.conf}: {added}")
    print(f"{args.epochs} epochs each from the first model on the same {args.images} images, imgsz {args.imgsz}")
    print("| class (scored where its source labels it completely) | ignore | pseudo |\n|---|---|---|")
    for cls in results["ignore"]:
        print(f"| {cls} | {results['ignore'][cls]} | {results['pseudo'][cls]} |")


if __name__ == "__main__":
    main()
