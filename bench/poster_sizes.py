"""Why fly-poster AP50 stays low: how many synthetic posters a model finds, by their size at its input.

    .venv/bin/python bench/poster_sizes.py [--model models/citypatrol-0.3.0.onnx] [--split val]

Posters are drawn at true paper scale (DESIGN.md): an A4 sheet across a street is 1–3 % of the
frame's width, so many are a few pixels at a 640 input, below what a stride-8 head resolves. Each
poster of the split's `fly_poster` frames counts as found when a fly_poster detection (conf >= 0.1)
covers it with IoU >= 0.5; the table is by the poster's short side in pixels at the model's input,
followed by the AP50 a perfect detector would reach if it saw nothing below each size.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cv import Detector  # noqa: E402
from cv.geometry import box_iou  # noqa: E402
from cv.model_card import default_model_path  # noqa: E402
from training.build import DEFAULT_WORK, load_index, read_labels  # noqa: E402
from training.teacher import yolo_to_xyxy  # noqa: E402

SIZE_BUCKETS = (0, 6, 10, 16, 24, 40, 10_000)  # px, short side at the model input


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--split", default="val")
    args = parser.parse_args()

    detector = Detector(args.model or default_model_path(), conf=0.1)
    poster = detector.class_names.index("fly_poster")
    sizes, found = [], []
    for record in (r for r in load_index(args.work) if r.synthetic == "fly_poster" and r.split == args.split):
        rows = [row for row in read_labels(args.work / "data" / "labels" / args.split / f"{record.name}.txt")
                if row[0] == poster]
        truth = yolo_to_xyxy(rows, record.width, record.height)
        dets = detector.detect(cv2.imread(record.image))
        boxes = dets.xyxy[dets.class_id == poster]
        iou = box_iou(truth, boxes) if len(truth) and len(boxes) else np.zeros((len(truth), 0))
        scale = detector.imgsz / max(record.width, record.height)
        sizes += (np.minimum(truth[:, 2] - truth[:, 0], truth[:, 3] - truth[:, 1]) * scale).tolist()
        found += (iou.max(1) >= 0.5 if iou.shape[1] else np.zeros(len(truth), bool)).tolist()
    sizes, found = np.array(sizes), np.array(found)
    print(f"{detector.version}: {len(sizes)} posters on the {args.split} split's poster frames")
    print("| short side at the input | posters | found |\n|---|---|---|")
    for low, high in zip(SIZE_BUCKETS, SIZE_BUCKETS[1:]):
        inside = (sizes >= low) & (sizes < high)
        if inside.any():
            print(f"| {low}–{high if high < 10_000 else '…'} px | {inside.sum()} | {found[inside].mean():.2f} |")
    # AP50 is at most the recall reached: a model that finds every poster from a size up, with no false
    # one, and none below it, scores the share of posters at or above that size.
    print("\nAP50 ceiling when no poster below a size is found (and every other one is):")
    print(", ".join(f"below {low} px: {(sizes >= low).mean():.2f}" for low in SIZE_BUCKETS[1:-1]))


if __name__ == "__main__":
    main()
