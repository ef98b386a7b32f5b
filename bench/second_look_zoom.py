"""Would the second look find more fly-posters if it zoomed past the frame's own pixels?

    .venv/bin/python bench/second_look_zoom.py [--model models/citypatrol-0.4.0.onnx] [--grids 1 2 3 4]

The runtime crops a camera's walls at up to the frame's full resolution (2× the whole frame's zoom
at most: `cv.detector.crop_windows`). Slicing tools for small objects (SAHI) go further and upscale
each slice to the model's input. Here the validation split's synthetic poster frames and real
facades are each looked at as a camera whose wall is the whole frame, with an N×N grid of crops
(grid 1: the whole frame alone; grid 2 is the runtime's own look at a 1280 px frame; 3 and 4
upscale), and the table gives fly-poster AP50, the operating points the 0201 rule chooses from
(share of posters found / false posters per facade) and the time per frame.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cv import Detector  # noqa: E402
from cv.model_card import default_model_path  # noqa: E402
from training import evaluate  # noqa: E402
from training.build import DEFAULT_WORK, load_index  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--grids", type=int, nargs="+", default=[1, 2, 3, 4])
    args = parser.parse_args()

    records = load_index(args.work)
    by_image = {os.path.abspath(r.image): r for r in records if r.split == "val"}
    posters = evaluate.subset_images(records, "fly_poster_synth")
    facades = evaluate.subset_images(records, "facades_real")
    detector = Detector(args.model or default_model_path(), conf=0.001, iou=0.7, max_det=300)
    print(f"{detector.version}: {len(posters)} synthetic poster frames, {len(facades)} real facades")
    print("| crops | fly_poster AP50 | " + " | ".join(f"found / false at {c}" for c in evaluate.OPERATING_CONFS)
          + " | ms per frame |")
    print("|---" * (len(evaluate.OPERATING_CONFS) + 3) + "|")
    for grid in args.grids:
        look = evaluate.poster_look(detector, posters, facades, by_image, args.work, second_look=grid > 1,
                                    crop_grid=grid if grid > 1 else None)
        cells = " | ".join(f"{p['recall']:.2f} / {p['false_posters_per_facade']:.2f}" for p in look["operating_points"])
        label = "none" if grid == 1 else f"{grid}×{grid}"
        print(f"| {label} | {look['fly_poster_ap50']:.3f} | {cells} | {look['ms_per_frame']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
