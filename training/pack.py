"""`pack`: a self-contained, compact copy of the built training split, to train on a machine that has
no ../shared beside the repo (a lent GPU machine, `citypatrol-train train --work PACK --device 0`).

The images are real copies (the work folder holds links to ../shared), re-encoded as WebP with the long
side at most `max_side`: ultralytics resizes every image to `imgsz` before it trains on it, so at
`max_side == imgsz` the model sees the same pixels, less the WebP loss. An image whose labelled objects
are all large (bags seen close up, vehicles) goes down to `reduced_side`: its objects keep at least
`min_object_px`, while small ones (fly-posters, distant persons) keep every pixel they have. The
validation split stays here: evaluation, parity, gate and export run where the fixed split is.

The pack holds the training records of the work folder's index (a `copy_dataset` subset packs only its
own) and an index of its own, so that `train --work PACK --repeat-rare T` samples there as it does here.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import cv2
from tqdm import tqdm

from training.build import DEFAULT_WORK, index_meta, label_file, load_index, read_labels, save_index


def packed_side(label: Path, width: int, height: int, max_side: int, reduced_side: int, min_object_px: int) -> int:
    """`reduced_side` when every labelled object keeps `min_object_px` (its short side) there, else `max_side`."""
    smallest = min((min(w * width, h * height) for _, _, _, w, h in read_labels(label)), default=float("inf"))
    return reduced_side if smallest * reduced_side / max(width, height) >= min_object_px else max_side


def pack(work: str | Path = DEFAULT_WORK, out: str | Path = "var/pack", max_side: int = 640, quality: int = 70,
         reduced_side: int = 512, min_object_px: int = 16, progress: bool = True) -> dict:
    """Write `out/data/{images,labels}/train`; return the image counts (per side) and their size in bytes."""
    work, out = Path(work), Path(out)
    if out.exists():
        shutil.rmtree(out)
    images_out, labels_out = out / "data" / "images" / "train", out / "data" / "labels" / "train"
    images_out.mkdir(parents=True)
    labels_out.mkdir(parents=True)
    records = [r for r in load_index(work) if r.split == "train"]
    if not records:
        raise ValueError(f"no training images in {work}/index.json: run `citypatrol-train build` first")
    size, sides = 0, {}
    for record in tqdm(records, desc="pack", unit="img", disable=not progress):
        image = cv2.imread(record.image)
        if image is None:
            raise ValueError(f"unreadable training image {record.image}")
        height, width = image.shape[:2]
        label = label_file(work, record)
        side = packed_side(label, width, height, max_side, reduced_side, min_object_px)
        sides[side] = sides.get(side, 0) + 1
        scale = side / max(height, width)
        if scale < 1:
            image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        target = images_out / f"{record.name}.webp"
        cv2.imwrite(str(target), image, [cv2.IMWRITE_WEBP_QUALITY, quality])
        size += target.stat().st_size
        if label.exists():
            shutil.copyfile(label, labels_out / label.name)
    # image paths as given (relative to the repo root where `out` is): the pack trains from the same root there
    save_index(out, [replace(r, image=str(images_out / f"{r.name}.webp")) for r in records], **index_meta(work))
    return {"images": len(records), "bytes": size, "images_per_side": sides, "min_object_px": min_object_px,
            "webp_quality": quality}
